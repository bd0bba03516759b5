#pragma once
// Single-sequence generation: prompt in, streamed text out, with timing statistics. The
// multi-request Engine and its scheduler build on the same Backend and Sampler.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/backend/backend.h"
#include "core/sampling/sampler.h"
#include "core/tokenizer/tokenizer.h"

namespace hearth {

struct GenerationStats {
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  double time_to_first_token_ms = 0;  // from start until the first generated token is sampled
  double prompt_ms = 0;               // prefill of the prompt
  double decode_ms = 0;               // after the first token
  double decode_tokens_per_second() const {
    return generated_tokens > 1 && decode_ms > 0 ? (generated_tokens - 1) * 1000.0 / decode_ms : 0.0;
  }
  double prompt_tokens_per_second() const { return prompt_ms > 0 ? prompt_tokens * 1000.0 / prompt_ms : 0.0; }
  std::string finish_reason;  // "length", "stop" (end-of-generation token), "context"
};

struct GenerationRequest {
  std::vector<TokenId> prompt;
  int64_t max_tokens = 128;
  bool stop_at_end_of_generation = true;
};

// on_text receives whole UTF-8 characters as they complete; return false to stop early.
using TextSink = std::function<bool(std::string_view text)>;

// Continues from the backend's current cache contents (n_past) with the prompt tokens appended.
GenerationStats generate(Backend& backend, const Tokenizer& tokenizer, Sampler& sampler,
                         const GenerationRequest& request, const TextSink& on_text,
                         std::vector<TokenId>* generated = nullptr);

}  // namespace hearth
