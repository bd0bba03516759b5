#pragma once
// Parser: tokens -> statement list. Rejects include/import/extends (templates never touch files)
// and anything outside the supported subset with a FormatError carrying line:column.
#include <string_view>

#include "core/tokenizer/chat_template/ast.h"

namespace hearth::chat_template {

// max_depth bounds the nesting of blocks and expressions so hostile input cannot exhaust the stack.
NodeList parse_template(std::string_view source, int max_depth);

}  // namespace hearth::chat_template
