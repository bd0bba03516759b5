#include "core/tokenizer/chat_template/lexer.h"

#include <cctype>

#include "core/common/error.h"

namespace hearth::chat_template {

std::string position_message(SourcePos pos, std::string_view message) {
  return "chat template " + std::to_string(pos.line) + ":" + std::to_string(pos.column) + ": " +
         std::string(message);
}

namespace {

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  std::vector<Token> run() {
    bool strip_next_text = false;  // the previous tag ended with "-%}" / "-}}" / "-#}"
    while (i_ < src_.size()) {
      const size_t open = find_open(i_);
      const size_t text_end = open == std::string_view::npos ? src_.size() : open;
      std::string text(src_.substr(i_, text_end - i_));
      const SourcePos text_pos = pos_;
      const bool at_line_start = i_ == 0 || src_[i_ - 1] == '\n';
      if (strip_next_text) text.erase(0, text.find_first_not_of(" \t\r\n\f\v") == std::string::npos ? text.size() : text.find_first_not_of(" \t\r\n\f\v"));
      advance_to(text_end);
      if (open == std::string_view::npos) {
        emit_text(std::move(text), text_pos);
        break;
      }
      const char kind = src_[open + 1];
      const char marker = open + 2 < src_.size() ? src_[open + 2] : '\0';
      if (marker == '-') {
        const size_t keep = text.find_last_not_of(" \t\r\n\f\v");
        text.erase(keep == std::string::npos ? 0 : keep + 1);
      } else if (kind != '{' && marker != '+') {
        lstrip_block(text, at_line_start);
      }
      emit_text(std::move(text), text_pos);
      const size_t after_open = open + 2 + ((marker == '-' || marker == '+') ? 1 : 0);
      const SourcePos tag_pos = pos_;
      advance_to(after_open);
      if (kind == '#') {
        const size_t close = src_.find("#}", i_);
        if (close == std::string_view::npos) throw FormatError(position_message(tag_pos, "unterminated comment"));
        strip_next_text = close > i_ && src_[close - 1] == '-';
        advance_to(close + 2);
        if (!strip_next_text) trim_newline();
        continue;
      }
      const bool is_expr = kind == '{';
      tokens_.push_back({is_expr ? TokenKind::ExprOpen : TokenKind::StmtOpen, "", tag_pos});
      strip_next_text = lex_tag(is_expr, tag_pos);
      if (!is_expr && !strip_next_text) trim_newline();
    }
    tokens_.push_back({TokenKind::End, "", pos_});
    return std::move(tokens_);
  }

 private:
  size_t find_open(size_t from) const {
    for (size_t p = src_.find('{', from); p != std::string_view::npos; p = src_.find('{', p + 1)) {
      if (p + 1 < src_.size() && (src_[p + 1] == '{' || src_[p + 1] == '%' || src_[p + 1] == '#')) return p;
    }
    return std::string_view::npos;
  }

  void advance_to(size_t target) {
    for (; i_ < target; ++i_) {
      if (src_[i_] == '\n') { ++pos_.line; pos_.column = 1; }
      else ++pos_.column;
    }
  }

  // lstrip_blocks: spaces/tabs between the start of a line and a block tag are dropped.
  static void lstrip_block(std::string& text, bool text_starts_line) {
    const size_t nl = text.rfind('\n');
    const size_t tail = nl == std::string::npos ? 0 : nl + 1;
    if (nl == std::string::npos && !text_starts_line) return;
    for (size_t k = tail; k < text.size(); ++k)
      if (text[k] != ' ' && text[k] != '\t') return;
    text.erase(tail);
  }

  // trim_blocks: the first newline after a block tag is dropped.
  void trim_newline() {
    if (i_ < src_.size() && src_[i_] == '\n') advance_to(i_ + 1);
  }

  void emit_text(std::string text, SourcePos pos) {
    if (!text.empty()) tokens_.push_back({TokenKind::Text, std::move(text), pos});
  }

  // Lexes up to and including the closing "}}" / "%}"; returns whether it carried a "-" marker.
  bool lex_tag(bool is_expr, SourcePos tag_pos) {
    const char close_first = is_expr ? '}' : '%';
    int open_braces = 0;  // "{{ {'a': {'b': 1}} }}": a '}' closing a dict literal does not end the tag
    while (true) {
      while (i_ < src_.size() && std::isspace(static_cast<unsigned char>(src_[i_]))) advance_to(i_ + 1);
      if (i_ >= src_.size()) throw FormatError(position_message(tag_pos, "unterminated tag"));
      const char c = src_[i_];
      const SourcePos p = pos_;
      if (c == '-' && i_ + 2 < src_.size() && src_[i_ + 1] == close_first && src_[i_ + 2] == '}' && open_braces == 0) {
        advance_to(i_ + 3);
        tokens_.push_back({is_expr ? TokenKind::ExprClose : TokenKind::StmtClose, "", p});
        return true;
      }
      if (c == close_first && i_ + 1 < src_.size() && src_[i_ + 1] == '}' && open_braces == 0) {
        advance_to(i_ + 2);
        tokens_.push_back({is_expr ? TokenKind::ExprClose : TokenKind::StmtClose, "", p});
        return false;
      }
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t e = i_;
        while (e < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
        tokens_.push_back({TokenKind::Name, std::string(src_.substr(i_, e - i_)), p});
        advance_to(e);
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        lex_number(p);
      } else if (c == '\'' || c == '"') {
        lex_string(p);
      } else {
        lex_operator(p);
        if (tokens_.back().text == "{") ++open_braces;
        if (tokens_.back().text == "}" && open_braces > 0) --open_braces;
      }
    }
  }

  void lex_number(SourcePos p) {
    size_t e = i_;
    bool is_float = false;
    while (e < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
    if (e + 1 < src_.size() && src_[e] == '.' && std::isdigit(static_cast<unsigned char>(src_[e + 1]))) {
      is_float = true;
      ++e;
      while (e < src_.size() && std::isdigit(static_cast<unsigned char>(src_[e]))) ++e;
    }
    if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
      size_t k = e + 1;
      if (k < src_.size() && (src_[k] == '+' || src_[k] == '-')) ++k;
      if (k < src_.size() && std::isdigit(static_cast<unsigned char>(src_[k]))) {
        is_float = true;
        e = k;
        while (e < src_.size() && std::isdigit(static_cast<unsigned char>(src_[e]))) ++e;
      }
    }
    std::string spelling;
    for (size_t k = i_; k < e; ++k)
      if (src_[k] != '_') spelling += src_[k];
    tokens_.push_back({is_float ? TokenKind::Float : TokenKind::Int, spelling, p});
    advance_to(e);
  }

  void lex_string(SourcePos p) {
    const char quote = src_[i_];
    std::string out;
    size_t k = i_ + 1;
    while (true) {
      if (k >= src_.size()) throw FormatError(position_message(p, "unterminated string literal"));
      const char c = src_[k];
      if (c == quote) break;
      if (c == '\\' && k + 1 < src_.size()) {
        const char n = src_[k + 1];
        switch (n) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'r': out += '\r'; break;
          case '\\': out += '\\'; break;
          case '\'': out += '\''; break;
          case '"': out += '"'; break;
          case '\n': break;
          default: out += '\\'; out += n;
        }
        k += 2;
        continue;
      }
      out += c;
      ++k;
    }
    tokens_.push_back({TokenKind::String, std::move(out), p});
    advance_to(k + 1);
  }

  void lex_operator(SourcePos p) {
    static const char* const kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                       "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", "="};
    for (const char* op : kOps) {
      const std::string_view o(op);
      if (src_.substr(i_, o.size()) == o) {
        tokens_.push_back({TokenKind::Op, std::string(o), p});
        advance_to(i_ + o.size());
        return;
      }
    }
    throw FormatError(position_message(p, std::string("unexpected character '") + src_[i_] + "'"));
  }

  std::string_view src_;
  size_t i_ = 0;
  SourcePos pos_;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) {
  // As Jinja: every newline ("\r\n", "\r", "\n") becomes "\n" and one trailing newline of the
  // template is dropped (keep_trailing_newline=False).
  std::string normalized;
  normalized.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      normalized += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      normalized += source[i];
    }
  }
  if (!normalized.empty() && normalized.back() == '\n') normalized.pop_back();
  return Lexer(normalized).run();
}

}  // namespace hearth::chat_template
