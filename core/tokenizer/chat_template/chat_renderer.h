#pragma once
// ChatRenderer: a model's conversation -> prompt text -> token ids, the way the model expects.
// It renders the GGUF's tokenizer.chat_template (or a named one, tokenizer.chat_template.NAME)
// with the model's BOS/EOS texts. When the file has no template, or the template fails to parse
// or render, it renders a built-in template for the architecture instead and says why in `note`:
//   llama3 header style (<|start_header_id|>...), chatml for qwen2/qwen3, llama2 [INST],
//   gemma <start_of_turn>, else a plain "role: content" fallback.
// encode() turns the rendered text into tokens with control-token parsing for the template's own
// text only: spans that come from message contents are plain text, so a user who types
// "<|im_end|>" gets those characters, never the control token.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tokenizer/chat_template/chat_template.h"
#include "core/tokenizer/tokenizer.h"

namespace hearth::gguf {
class GgufFile;
}

namespace hearth {

// [begin, end) byte offsets into RenderedPrompt::text.
struct TextSpan {
  size_t begin = 0;
  size_t end = 0;
};

struct RenderedPrompt {
  std::string text;
  bool used_fallback = false;  // a built-in template rendered this, not the model's
  std::string note;            // why the fallback was used (empty when it was not)
  // Where message contents that contain control-token text landed in `text` (see encode()):
  // untrusted text. Found by rendering once more with a placeholder for each such content and
  // aligning the two outputs. Empty when no content has control-token text (nothing to protect).
  std::vector<TextSpan> content_spans;
  bool contents_located = true;            // false: the alignment failed (the template transformed a content)
  bool contents_have_special_text = false; // some message content contains a control-token text
};

class ChatRenderer {
 public:
  // Reads tokenizer.chat_template (or tokenizer.chat_template.<template_name> when a name is
  // given), general.architecture, and the BOS/EOS token texts. Keeps a reference to `tokenizer`
  // (for encode()); it must outlive this object. Never throws for a bad template: that is
  // reported by render() through used_fallback/note.
  ChatRenderer(const gguf::GgufFile& file, const Tokenizer& tokenizer, std::string_view template_name = {});
  ~ChatRenderer();
  ChatRenderer(ChatRenderer&&) noexcept;
  ChatRenderer& operator=(ChatRenderer&&) = delete;

  // Empty bos_token / eos_token in `inputs` are filled with the model's texts. Throws only when
  // the built-in fallback itself cannot render (a raise_exception of the model template is a
  // fallback with the message in note).
  RenderedPrompt render(const TemplateInputs& inputs, const TemplateLimits& limits = {}) const;

  // The template source render() tries first: the model's, or the built-in one when it has none.
  std::string source() const;
  bool has_model_template() const;
  // The built-in template for this model's architecture and its short name ("chatml", ...).
  const std::string& fallback_source() const;
  const std::string& fallback_name() const;

  // Token ids of a rendered prompt. Control/user-defined token texts become those tokens only
  // where they lie wholly in template text, never inside prompt.content_spans. Adds BOS when the
  // tokenizer wants one and the rendered text does not already start with it. Throws Error when
  // a message content that contains control-token text could not be located in the output
  // (the template transformed it), since it could then not be kept out of special parsing.
  std::vector<TokenId> encode(const RenderedPrompt& prompt, bool add_bos = true) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The built-in template of an architecture name (general.architecture) and, optionally, the
// tokenizer's BOS/EOS texts to tell llama2 from llama3: returns {name, jinja source}.
std::pair<std::string, std::string> builtin_chat_template(std::string_view arch, std::string_view bos_text,
                                                          std::string_view eos_text,
                                                          const std::vector<std::string>& special_texts);

}  // namespace hearth
