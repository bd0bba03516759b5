#include "core/engine/prompt_builder.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "core/common/error.h"
#include "core/tokenizer/chat_template/chat_template.h"

#if __has_include("core/tokenizer/chat_template/chat_renderer.h")
#include "core/tokenizer/chat_template/chat_renderer.h"
#define HEARTH_HAVE_CHAT_RENDERER 1
#endif

namespace hearth {

struct PromptRenderer::Impl {
  explicit Impl(const LoadedModel& m) : model(m) {}
  const LoadedModel& model;
#ifdef HEARTH_HAVE_CHAT_RENDERER
  std::optional<ChatRenderer> renderer;
#else
  std::optional<std::string> source;  // tokenizer.chat_template
#endif
};

PromptRenderer::PromptRenderer(const LoadedModel& model) : impl_(std::make_unique<Impl>(model)) {
#ifdef HEARTH_HAVE_CHAT_RENDERER
  impl_->renderer.emplace(model.file(), model.tokenizer());
#else
  impl_->source = model.file().get_string("tokenizer.chat_template");
#endif
}

PromptRenderer::~PromptRenderer() = default;

std::vector<TokenId> PromptRenderer::tokenize(const std::vector<ChatMessage>& messages, const Request& request) const {
  TemplateInputs inputs;
  inputs.messages = messages;
  inputs.add_generation_prompt = request.add_generation_prompt;
  inputs.extra = request.template_extra;
#ifdef HEARTH_HAVE_CHAT_RENDERER
  // The model's template, or the architecture's built-in one when it is missing or fails.
  const RenderedPrompt rendered = impl_->renderer->render(inputs);
  return impl_->renderer->encode(rendered, impl_->model.tokenizer().add_bos_by_default());
#else
  const Tokenizer& tok = impl_->model.tokenizer();
  if (tok.bos() >= 0) inputs.bos_token = tok.token_to_piece(tok.bos(), true);
  if (tok.eos() >= 0) inputs.eos_token = tok.token_to_piece(tok.eos(), true);
  std::string text;
  if (impl_->source) {
    text = render_chat_template(*impl_->source, inputs);
  } else {  // no template in the file: a plain transcript
    for (const auto& m : messages) text += m.role + ": " + m.content + "\n";
    if (request.add_generation_prompt) text += "assistant:";
  }
  std::vector<TokenId> tokens = tok.encode(text, false, true);
  if (tok.add_bos_by_default() && tok.bos() >= 0 && (tokens.empty() || tokens.front() != tok.bos())) {
    tokens.insert(tokens.begin(), tok.bos());
  }
  return tokens;
#endif
}

namespace {

// Keeps the first `head` and the last target - head tokens.
int64_t cut_middle(std::vector<TokenId>& tokens, int64_t target) {
  const auto n = static_cast<int64_t>(tokens.size());
  if (n <= target) return 0;
  const int64_t head = target / 2;
  const int64_t cut = n - target;
  tokens.erase(tokens.begin() + head, tokens.begin() + head + cut);
  return cut;
}

}  // namespace

BuiltPrompt build_prompt(const LoadedModel& model, const PromptRenderer& renderer, const Request& request,
                         int64_t limit, const std::string& limit_what) {
  const Tokenizer& tok = model.tokenizer();
  BuiltPrompt out;
  if (!request.messages.empty()) {
    out.tokens = renderer.tokenize(request.messages, request);
  } else if (!request.prompt_tokens.empty()) {
    out.tokens = request.prompt_tokens;
    for (TokenId t : out.tokens) {
      if (t < 0 || t >= tok.vocab_size()) throw Error(fmt::format("prompt token {} is outside the vocabulary of {}", t, tok.vocab_size()));
    }
  } else {
    // Plain text is untrusted: special-token texts in it stay text.
    out.tokens = tok.encode(request.prompt_text, tok.add_bos_by_default(), false);
  }
  if (out.tokens.empty()) throw Error("the prompt is empty");

  const auto n = static_cast<int64_t>(out.tokens.size());
  if (n < limit) return out;
  if (request.overflow == ContextOverflow::kError) {
    throw Error(fmt::format("the prompt has {} tokens, but a sequence can hold at most {} positions ({}), "
                            "including at least 1 generated token",
                            n, limit, limit_what));
  }
  if (limit < 2) throw Error(fmt::format("{} is too small for any prompt", limit_what));
  const int64_t room = std::clamp<int64_t>(request.max_tokens, 1, limit / 2);
  const int64_t target = limit - room;
  // Whole turns first: drop messages[1], messages[2], ... while at least the last one remains.
  if (request.messages.size() > 2) {
    std::vector<ChatMessage> kept = request.messages;
    while (kept.size() > 2 && static_cast<int64_t>(out.tokens.size()) > target) {
      // One turn: the oldest message after the first, with the replies that follow it, so the
      // kept conversation still starts with a user turn (templates expect alternation).
      kept.erase(kept.begin() + 1);
      while (kept.size() > 2 && kept[1].role != "user") kept.erase(kept.begin() + 1);
      out.tokens = renderer.tokenize(kept, request);
    }
    out.dropped_messages = static_cast<int64_t>(request.messages.size() - kept.size());
  }
  cut_middle(out.tokens, target);
  out.truncated_tokens = n - static_cast<int64_t>(out.tokens.size());
  return out;
}

}  // namespace hearth
