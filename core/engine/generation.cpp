#include "core/engine/generation.h"

#include "core/common/error.h"

namespace hearth {

namespace {
using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }
}  // namespace

GenerationStats generate(Backend& backend, const Tokenizer& tokenizer, Sampler& sampler,
                         const GenerationRequest& request, const TextSink& on_text,
                         std::vector<TokenId>* generated) {
  if (request.prompt.empty()) throw Error("the prompt is empty");
  GenerationStats stats;
  stats.prompt_tokens = static_cast<int64_t>(request.prompt.size());
  if (backend.n_past() + stats.prompt_tokens >= backend.context_size()) {
    throw Error("the prompt (" + std::to_string(stats.prompt_tokens) + " tokens) does not fit the context of " +
                std::to_string(backend.context_size()) + " tokens");
  }
  for (TokenId t : request.prompt) sampler.accept(t);

  const auto start = Clock::now();
  std::vector<float> logits;
  backend.forward({request.prompt, false}, logits);
  stats.prompt_ms = ms_since(start);

  Utf8StreamDecoder utf8;
  Clock::time_point first_token_time{};
  stats.finish_reason = "length";
  for (int64_t i = 0; i < request.max_tokens; ++i) {
    const TokenId token = sampler.sample(logits);
    sampler.accept(token);
    if (i == 0) {
      first_token_time = Clock::now();
      stats.time_to_first_token_ms = ms_since(start);
    }
    if (request.stop_at_end_of_generation && tokenizer.is_end_of_generation(token)) {
      stats.finish_reason = "stop";
      break;
    }
    ++stats.generated_tokens;
    if (generated) generated->push_back(token);
    const std::string text = utf8.push(tokenizer.token_to_piece(token));
    if (!text.empty() && !on_text(text)) {
      stats.finish_reason = "stop";
      break;
    }
    if (i + 1 == request.max_tokens) break;
    if (backend.n_past() + 1 > backend.context_size()) {
      stats.finish_reason = "context";
      break;
    }
    const TokenId next[1] = {token};
    backend.forward({next, false}, logits);
  }
  if (const std::string rest = utf8.flush(); !rest.empty()) on_text(rest);
  if (stats.generated_tokens > 0) stats.decode_ms = ms_since(first_token_time);
  return stats;
}

}  // namespace hearth
