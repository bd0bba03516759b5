#pragma once
// The sampler chain: penalties -> temperature -> top-k -> top-p -> min-p -> draw.
// Greedy (argmax, ties to the lowest id) when temperature <= 0. The same seed and the same
// logits give the same tokens on every platform (own RNG-to-double mapping, no std distributions).
//
// Special values: NaN logits count as -inf; if any logit is +inf only the +inf tokens remain
// (equally likely); if all are NaN/-inf, sample() and probabilities() throw hearth::Error.
// A logits span whose size is not vocab_size, or an accept()ed id outside it, throws hearth::Error.
// penalty_last_n < 0 means the whole accepted history; 0 turns the penalties off.
#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "core/sampling/logit_candidate.h"

namespace hearth {

struct SamplingParams {
  float temperature = 0.8f;
  int32_t top_k = 40;            // <= 0: off
  float top_p = 0.95f;           // >= 1: off
  float min_p = 0.05f;           // <= 0: off
  float repeat_penalty = 1.0f;   // 1: off; divides positive logits, multiplies negative ones
  int32_t penalty_last_n = 64;   // tokens of history the penalties look at
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  uint64_t seed = 0;
};

// The greedy choice over a logits row without penalties: the largest value, ties to the lowest
// id, NaN and -inf never chosen; -1 when there is none. One vectorised pass, no copy.
int32_t argmax_logits(std::span<const float> logits);

class Sampler {
 public:
  Sampler(const SamplingParams& params, int32_t vocab_size);

  // Picks the next token from logits [vocab_size]; does not record it (call accept()).
  int32_t sample(std::span<const float> logits);
  // [host5] How many best entries of a row (logit_candidate.h) the chain needs for the next draw:
  // 1 when greedy, top_k when sampling with 1 <= top_k <= max_k, and 0 (the whole row) otherwise
  // or while a penalty applies. Changes only with accept() (the penalty history).
  int32_t candidates_needed(int32_t max_k) const;
  // Picks the next token from a row's best entries (at least candidates_needed(), in
  // logit_candidate.h order): the same token, and the same use of the random stream, as sample()
  // on the whole row. Throws hearth::Error when the row needs more than it was given.
  int32_t sample_best(std::span<const LogitCandidate> best);
  // The final distribution the chain draws from (zeros outside the kept set), [vocab_size].
  std::vector<float> probabilities(std::span<const float> logits) const;
  // Adds a token to the penalty history (prompt tokens too, if penalties should see them).
  void accept(int32_t token);
  void reset();  // clears history and reseeds

  const SamplingParams& params() const { return params_; }

 private:
  struct Kept {
    int32_t id;
    double prob;
  };
  bool penalties_active() const;
  void check_size(std::span<const float> logits) const;
  // The penalised tokens' values, (id, value) sorted by id; empty when no penalty applies.
  std::vector<std::pair<int32_t, float>> penalty_overlay(std::span<const float> logits) const;
  // The final kept set, sorted by id, probabilities summing to 1.
  std::vector<Kept> distribution(std::span<const float> logits) const;
  std::vector<Kept> distribution_from_best(std::span<const LogitCandidate> best) const;
  int32_t draw(const std::vector<Kept>& kept);  // one draw from the kept set (sorted by id)

  SamplingParams params_;
  int32_t vocab_size_;
  std::vector<int32_t> history_;
  std::mt19937_64 rng_;
};

}  // namespace hearth
