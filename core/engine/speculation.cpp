#include "core/engine/speculation.h"

#include "core/sampling/sampler.h"

#include <algorithm>
#include <cmath>

namespace hearth {

namespace {

double prob_at(std::span<const float> dist, TokenId t) {
  return t >= 0 && static_cast<size_t>(t) < dist.size() ? static_cast<double>(dist[static_cast<size_t>(t)]) : 0.0;
}

}  // namespace

bool accept_draft_token(std::span<const float> p, std::span<const float> q, TokenId x, double u) {
  const double px = prob_at(p, x);
  const double qx = q.empty() ? 1.0 : prob_at(q, x);
  if (qx <= 0.0) return false;  // x could not have been drawn from q: never trust it
  return u * qx < px;           // u < p/q without dividing; p >= q accepts always (u < 1)
}

TokenId sample_distribution(std::span<const float> probs, double u) {
  double total = 0;
  for (float v : probs) total += v;
  const double target = u * total;
  double cumulative = 0;
  TokenId last = -1;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] <= 0) continue;
    cumulative += probs[i];
    last = static_cast<TokenId>(i);
    if (target < cumulative) return last;
  }
  return last;
}

TokenId sample_residual(std::span<const float> p, std::span<const float> q, TokenId x, double u) {
  // r = max(0, p - q), in double; q empty: point mass at x, so r = p with x's mass removed
  // (p(x) - 1 <= 0).
  std::vector<float> r(p.size());
  double mass = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double qi = q.empty() ? (static_cast<TokenId>(i) == x ? 1.0 : 0.0) : static_cast<double>(q[i]);
    const double v = std::max(0.0, static_cast<double>(p[i]) - qi);
    r[i] = static_cast<float>(v);
    mass += r[i];
  }
  if (!(mass > 0)) return sample_distribution(p, u);
  return sample_distribution(r, u);
}

TokenId greedy_argmax(std::span<const float> logits) { return argmax_logits(logits); }

std::vector<TokenId> ngram_draft(std::span<const TokenId> tokens, int32_t max_ngram, int32_t max_tokens) {
  const auto len = static_cast<int64_t>(tokens.size());
  if (max_tokens <= 0 || len < 2) return {};
  for (int64_t n = std::min<int64_t>(max_ngram, len - 1); n >= 1; --n) {
    const auto suffix = tokens.subspan(static_cast<size_t>(len - n));
    // Earlier starts i (i + n <= len - 1, so at least one token follows), most recent first: the
    // first with a full continuation wins, else the earliest (the longest continuation; in a
    // loop the most recent match is followed by a single token).
    int64_t best = -1;
    for (int64_t i = len - n - 1; i >= 0; --i) {
      if (!std::equal(suffix.begin(), suffix.end(), tokens.begin() + i)) continue;
      best = i;
      if (i + n + max_tokens <= len) break;
    }
    if (best < 0) continue;
    const int64_t from = best + n;
    const int64_t to = std::min<int64_t>(len, from + max_tokens);
    return {tokens.begin() + from, tokens.begin() + to};
  }
  return {};
}

int32_t best_draft_length(double accept_rate, double cost_per_draft, int32_t max_draft) {
  const double a = std::clamp(accept_rate, 0.0, 0.999);
  const double c = std::max(cost_per_draft, 1e-3);
  int32_t best = 1;
  double best_value = -1;
  for (int32_t k = 1; k <= std::max(1, max_draft); ++k) {
    const double expected_tokens = (1.0 - std::pow(a, k + 1)) / (1.0 - a);
    const double value = expected_tokens / (1.0 + c * k);
    if (value > best_value) {
      best_value = value;
      best = k;
    }
  }
  return best;
}

}  // namespace hearth
