#pragma once
// Lexer for the chat-template language: splits a template into text and tag tokens, applying
// Jinja's whitespace rules as Hugging Face configures them (trim_blocks=True, lstrip_blocks=True,
// plus the explicit {%- -%} / {{- -}} / {#- -#} markers and {%+ which disables lstrip).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::chat_template {

struct SourcePos {
  uint32_t line = 1;
  uint32_t column = 1;
};

enum class TokenKind { Text, ExprOpen, ExprClose, StmtOpen, StmtClose, Name, String, Int, Float, Op, End };

struct Token {
  TokenKind kind;
  std::string text;  // text, name, decoded string literal, number spelling, or operator
  SourcePos pos;
};

// Throws hearth::FormatError "chat template L:C: ..." on malformed input.
std::vector<Token> tokenize(std::string_view source);

// "chat template 3:14: message"
std::string position_message(SourcePos pos, std::string_view message);

}  // namespace hearth::chat_template
