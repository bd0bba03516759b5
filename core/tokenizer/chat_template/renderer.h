#pragma once
// Renderer: walks the syntax tree with a stack of variable scopes (Jinja's rules: a for loop body
// and a macro call get their own scope; `set` writes to the innermost one, so state that must
// outlive a loop lives in a namespace() object). Counts loop iterations, macro depth and output
// bytes against TemplateLimits.
#include <string>

#include "core/tokenizer/chat_template/ast.h"
#include "core/tokenizer/chat_template/chat_template.h"

namespace hearth::chat_template {

// `globals` are the template's input variables (messages, bos_token, ...) plus builtins.
std::string render(const NodeList& program, const ValueDict& globals, const TemplateLimits& limits);

}  // namespace hearth::chat_template
