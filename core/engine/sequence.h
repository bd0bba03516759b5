#pragma once
// One request in flight inside the engine. The whole state the scheduler reasons about is two
// numbers over `tokens`: known (tokens.size(): prompt + generated) and computed (positions whose
// K/V are in the blocks of `table`). Every step lets computed catch up to known.
//
// Speculative decoding: draft tokens are appended to `tokens` as known-but-unverified (the last
// n_draft of them); a step computes them like a prefill chunk with logits for every draft
// position, verification keeps the accepted prefix and truncates the rest (tokens, computed and
// the table's tail), and only verified tokens are emitted. Drafts live only inside one engine
// step: proposed before scheduling, verified (or dropped) before the step ends.
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "core/engine/draft_model.h"
#include "core/engine/engine.h"
#include "core/engine/spec_controller.h"
#include "core/engine/stop_matcher.h"
#include "core/kv/kv_cache.h"
#include "core/tokenizer/tokenizer.h"

namespace hearth {

struct Sequence {
  using Clock = std::chrono::steady_clock;

  uint64_t id = 0;
  uint64_t model_generation = 0;  // the model it was tokenized for
  Request request;
  RequestSink sink;

  std::vector<TokenId> tokens;  // known tokens: prompt, then generated
  int64_t n_prompt = 0;
  int64_t computed = 0;         // positions with K/V in `table`
  int64_t limit = 0;            // most positions this sequence may hold (context, pool)
  BlockTable table;
  bool admitted = false;        // kStarted sent, timings started
  int64_t preemptions = 0;

  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<TokenConstraint> constraint;  // from request.constraint, when given
  std::vector<float> masked;                    // scratch: the constrained logits row [n_vocab]
  Utf8StreamDecoder utf8;
  StopMatcher stop;
  // Generated tokens (and their logprobs) whose text has not been emitted yet.
  std::vector<TokenId> pending_tokens;
  std::vector<TokenLogprob> pending_logprobs;

  // Speculative decoding state.
  int64_t n_draft = 0;                       // unverified draft tokens at the end of `tokens`
  std::vector<std::vector<float>> draft_q;   // [n_draft][n_vocab] q of each draft; empty row: point mass
  SpecMode spec = SpecMode::kOff;            // effective mode (kOff with a constraint)
  SpecStreamState spec_stats;
  DraftSlot draft;                           // the draft model's KV of this stream
  std::mt19937_64 spec_rng;                  // acceptance draws and draws from q

  RequestUsage usage;
  Clock::time_point submitted{}, first_scheduled{}, first_token{};

  int64_t known() const { return static_cast<int64_t>(tokens.size()); }
  int64_t verified() const { return known() - n_draft; }
  int64_t generated() const { return verified() - n_prompt; }
  // Catching up one verified token: the last sampled token is the only uncomputed one (drafts
  // after it, if any, are verified in the same slice).
  bool decoding() const { return verified() - computed == 1 && generated() > 0; }
  bool interactive() const { return request.priority == Priority::kInteractive; }
};

}  // namespace hearth
