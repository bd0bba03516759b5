#pragma once
// Speculative decoding, the math (no engine types): n-gram prompt-lookup drafts and the
// speculative-sampling acceptance rule that keeps the output distribution exactly the target's.
//
// A draft token x was drawn from the drafter's distribution q (a point mass for deterministic
// proposals such as n-gram lookup or a greedy draft model). With the target's distribution p at
// the same position (the request's sampler chain: penalties, top-k/p, min-p, temperature):
//   accept x with probability min(1, p(x) / q(x));
//   on reject, draw the replacement from norm(max(0, p - q)).
// The emitted token is then distributed exactly as p (Leviathan et al. 2023, Chen et al. 2023).
// Greedy is the special case p = point mass at argmax: accept iff x is the argmax, else emit it.
#include <cstdint>
#include <random>
#include <span>
#include <string_view>
#include <vector>

#include "core/backend/backend.h"

namespace hearth {

// Uniform double in [0, 1) from the top 53 bits (platform-stable, like the sampler's draw).
inline double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// p: the target's distribution [n_vocab]; q: the draft's distribution [n_vocab], or empty for a
// point mass at x. True when x is accepted (u is a uniform draw in [0, 1)).
bool accept_draft_token(std::span<const float> p, std::span<const float> q, TokenId x, double u);

// The replacement after a rejection: a draw from norm(max(0, p - q)) (q empty: point mass at x).
// When that residual has no mass (only possible through rounding), a draw from p.
TokenId sample_residual(std::span<const float> p, std::span<const float> q, TokenId x, double u);

// A draw from a distribution [n_vocab] (sums to 1 up to rounding); the last token with mass
// when rounding leaves u above the total.
TokenId sample_distribution(std::span<const float> probs, double u);

// The greedy choice of a logits row as Sampler makes it without penalties: the largest value, ties
// to the lowest id, NaN never chosen. -1 when every value is NaN or -inf (the sampler throws then).
// One pass, no copies: verification of greedy drafts calls it for every draft of every stream.
TokenId greedy_argmax(std::span<const float> logits);

// Prompt lookup: finds an earlier occurrence of the longest suffix of `tokens` of length
// max_ngram..1 and proposes up to max_tokens of what followed it: the most recent occurrence
// followed by max_tokens tokens, else the earliest one (the longest continuation). Empty when none.
std::vector<TokenId> ngram_draft(std::span<const TokenId> tokens, int32_t max_ngram, int32_t max_tokens);

// The draft length that maximises expected tokens per unit of step time, for a per-token
// acceptance rate `accept_rate` and a verify step costing (1 + cost_per_draft * k) plain steps:
// argmax over k in [1, max_draft] of (1 - a^(k+1)) / (1 - a) / (1 + cost_per_draft * k).
int32_t best_draft_length(double accept_rate, double cost_per_draft, int32_t max_draft);

}  // namespace hearth
