#pragma once
// Jinja's variable frames, reproduced because Hugging Face renders with Jinja and templates
// depend on it. Jinja compiles each frame (template top level, loop body, macro body) like a
// Python function: walking its statements in order (not into nested loops or macros), a name
// whose first mention is an assignment becomes a local that is undefined until assigned, even
// where a variable of that name exists outside. A name first read, or assigned only inside an
// if-branch, starts from the outer value instead.
//   {% for m in ms %}[{{ v }}]{% endfor %}{% set v = 3 %}    -> loop prints [] although v was given
#include <string>
#include <unordered_set>
#include <vector>

#include "core/tokenizer/chat_template/ast.h"

namespace hearth::chat_template {

struct FrameSymbols {
  std::unordered_set<std::string> referenced;               // every name the frame reads or writes
  std::unordered_set<std::string> undefined_until_assigned;  // first mention is an assignment
};

// `params` are bound on entry (loop targets and "loop", macro parameters).
FrameSymbols analyze_frame(const NodeList& body, const std::vector<std::string>& params);

}  // namespace hearth::chat_template
