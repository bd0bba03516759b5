#pragma once
// The best entries of one logits row, for samplers that do not need the whole row (greedy, or
// top-k without penalties): a backend can reduce a [n_vocab] row to its k best entries on its
// device, so only k * 8 bytes per row cross to the host instead of n_vocab * 4 (0.5 MB for a
// 128,256-entry vocabulary).
//
// Order, the same everywhere: value descending, then id ascending (the sampler's strict order);
// NaN entries are never selected; -inf entries are (they rank below every finite value).
// A row with fewer than k non-NaN entries is padded with {id -1, NaN} at its end.
#include <cstdint>
#include <span>

namespace hearth {

struct LogitCandidate {
  int32_t id = -1;
  float logit = 0;
};

// Writes the k best entries of `row` (the order above) to out[0 .. k): the host reference and the
// fallback of Backend::forward_batch_select.
void select_top_logits(std::span<const float> row, std::span<LogitCandidate> out);

}  // namespace hearth
