#pragma once
// Chat templates: the Jinja programs shipped in model files (tokenizer.chat_template) that turn a
// conversation into the prompt text. Rendering is sandboxed: no file or network access (include,
// import, extends are rejected), and every resource is bounded by TemplateLimits, so a hostile or
// broken template ends in hearth::Error, never a hang or a crash. Semantics follow Hugging Face
// (Python Jinja2 with trim_blocks=True, lstrip_blocks=True; undefined values render as ""), with
// the few string-method differences of @huggingface/jinja selectable by TemplateDialect.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/common/error.h"
#include "core/tokenizer/chat_template/value.h"

namespace hearth {

struct ChatMessage {
  std::string role;     // "system", "user", "assistant", "tool", ...
  std::string content;
};

struct TemplateInputs {
  std::vector<ChatMessage> messages;
  bool add_generation_prompt = false;
  std::string bos_token;
  std::string eos_token;
  // Anything else the template may read (tools, enable_thinking, date_string, ...). A variable
  // named "messages" here replaces the plain messages above, so messages may carry extra fields.
  std::vector<std::pair<std::string, chat_template::Value>> extra;
};

// Where Python Jinja2 (transformers in Python) and @huggingface/jinja (transformers.js) render
// differently, which one to follow. Issue 3 names @huggingface/jinja as the reference, so it is the
// default. The differences are in string methods only:
//   s.strip(chars) / lstrip(chars) / rstrip(chars): HF ignores `chars` and strips whitespace;
//   the whitespace that strip()/trim remove: Python's str.isspace() set vs JavaScript's trim() set
//   (JavaScript also strips U+FEFF; Python also strips U+001C..U+001F and U+0085).
enum class TemplateDialect { kHuggingFaceJs, kPython };

// Resource limits of one render, and the dialect (the one semantic switch).
struct TemplateLimits {
  size_t max_template_bytes = 1u << 20;           // 1 MiB of template source
  int max_recursion_depth = 64;                   // nested macro calls
  int max_nesting_depth = 256;                    // nesting of blocks and expressions in the source
  uint64_t max_loop_iterations = 1'000'000;       // all loop iterations of one render together
  size_t max_output_bytes = size_t{16} << 20;     // 16 MiB; also bounds every string built
  // Bytes of strings that filters, methods, subscripts, operators and loops take as input, summed
  // over the render: bounds quadratic work like `messages|length` inside a loop over a huge string.
  uint64_t max_string_work_bytes = uint64_t{1} << 30;
  TemplateDialect dialect = TemplateDialect::kHuggingFaceJs;
};

// raise_exception("...") in a template: the message is the template author's, shown as is.
class TemplateRaisedError : public Error {
 public:
  using Error::Error;
};

// Parses and renders. Throws FormatError ("chat template L:C: ...") for a malformed template,
// TemplateRaisedError for raise_exception(), Error for a limit or a type error while rendering.
std::string render_chat_template(std::string_view source, const TemplateInputs& inputs,
                                 const TemplateLimits& limits = {});

}  // namespace hearth
