// The sampler chain (see sampler.h). Every step works on a candidate list and uses strict total
// orders (value descending, then id ascending), so the kept set and the draw do not depend on how
// the standard library partitions ties: the same seed gives the same tokens everywhere.
//
// Special values: a NaN logit counts as -inf (never picked). If some logits are +inf, only those
// tokens remain, equally likely (greedy picks the lowest such id). If every logit is NaN or -inf
// there is nothing to choose from and sample()/probabilities() throw hearth::Error, so a broken
// model turns into a clear error on the request instead of silent garbage text.
#include "core/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/common/error.h"

namespace hearth {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct Candidate {
  int32_t id;
  float logit;   // after penalties
  double prob;   // after temperature + softmax over the top-k set
};

// Strict total orders: larger value first, lower id first among equals.
bool by_logit(const Candidate& a, const Candidate& b) {
  return a.logit != b.logit ? a.logit > b.logit : a.id < b.id;
}
bool by_prob(const Candidate& a, const Candidate& b) {
  return a.prob != b.prob ? a.prob > b.prob : a.id < b.id;
}

bool is_finite(float v) { return std::isfinite(v); }

// The k best candidates (by_logit) among values[i] that pass `keep`, in one pass with a heap of
// size k whose front is the worst kept element: O(V) compares plus O(log k) per replacement,
// without building a V-sized candidate list. The strict order makes the chosen set unique.
template <typename Keep>
std::vector<Candidate> top_k_candidates(const std::vector<float>& values, size_t k, Keep keep) {
  std::vector<Candidate> heap;
  heap.reserve(std::min(k, values.size()));
  for (size_t i = 0; i < values.size(); ++i) {
    const float v = values[i];
    if (!keep(v)) continue;
    const Candidate c{static_cast<int32_t>(i), v, 0.0};
    if (heap.size() < k) {
      heap.push_back(c);
      std::push_heap(heap.begin(), heap.end(), by_logit);
    } else if (by_logit(c, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), by_logit);
      heap.back() = c;
      std::push_heap(heap.begin(), heap.end(), by_logit);
    }
  }
  return heap;
}

void check_params(const SamplingParams& p, int32_t vocab_size) {
  if (vocab_size <= 0) throw Error("sampler: vocabulary size must be positive, got " + std::to_string(vocab_size));
  if (std::isnan(p.temperature)) throw Error("sampler: temperature is NaN");
  if (std::isnan(p.top_p)) throw Error("sampler: top_p is NaN");
  if (std::isnan(p.min_p)) throw Error("sampler: min_p is NaN");
  if (!is_finite(p.repeat_penalty) || p.repeat_penalty <= 0.0f)
    throw Error("sampler: repeat_penalty must be a positive number, got " + std::to_string(p.repeat_penalty));
  if (!is_finite(p.presence_penalty) || !is_finite(p.frequency_penalty))
    throw Error("sampler: presence/frequency penalties must be finite");
}

}  // namespace

Sampler::Sampler(const SamplingParams& params, int32_t vocab_size)
    : params_(params), vocab_size_(vocab_size), rng_(params.seed) {
  check_params(params_, vocab_size_);
}

void Sampler::accept(int32_t token) {
  if (token < 0 || token >= vocab_size_)
    throw Error("sampler: token " + std::to_string(token) + " outside vocabulary of " + std::to_string(vocab_size_));
  history_.push_back(token);
  // Only the last penalty_last_n tokens matter (< 0: the whole history); trim in batches so
  // accept() stays amortised O(1).
  const int32_t n = params_.penalty_last_n;
  if (n >= 0 && history_.size() > 2 * static_cast<size_t>(n) + 256) {
    history_.erase(history_.begin(), history_.end() - n);
  }
}

void Sampler::reset() {
  history_.clear();
  rng_.seed(params_.seed);
}

// Penalised, sanitised logits [vocab_size]: repetition, presence and frequency penalties over
// the distinct tokens of the last penalty_last_n accepted tokens; NaN becomes -inf.
std::vector<float> Sampler::penalized_logits(std::span<const float> logits) const {
  if (logits.size() != static_cast<size_t>(vocab_size_))
    throw Error("sampler: got " + std::to_string(logits.size()) + " logits for a vocabulary of " +
                std::to_string(vocab_size_));
  std::vector<float> out(logits.begin(), logits.end());
  for (float& v : out) {
    if (std::isnan(v)) v = kNegInf;
  }

  const bool any_penalty = params_.repeat_penalty != 1.0f || params_.presence_penalty != 0.0f ||
                           params_.frequency_penalty != 0.0f;
  const int32_t n = params_.penalty_last_n;
  if (!any_penalty || n == 0 || history_.empty()) return out;

  const size_t window = n < 0 ? history_.size() : std::min(history_.size(), static_cast<size_t>(n));
  std::vector<int32_t> recent(history_.end() - static_cast<std::ptrdiff_t>(window), history_.end());
  std::sort(recent.begin(), recent.end());
  for (size_t i = 0; i < recent.size();) {
    size_t j = i;
    while (j < recent.size() && recent[j] == recent[i]) ++j;
    const int32_t token = recent[i];
    const auto count = static_cast<float>(j - i);
    float& v = out[static_cast<size_t>(token)];
    if (is_finite(v)) {  // +-inf stay as they are (dividing or subtracting cannot change them)
      v = v > 0.0f ? v / params_.repeat_penalty : v * params_.repeat_penalty;
      v -= count * params_.frequency_penalty + params_.presence_penalty;
    }
    i = j;
  }
  return out;
}

// The kept set with normalised probabilities, sorted by id: [(id, p)], sum p = 1.
std::vector<Sampler::Kept> Sampler::distribution(std::span<const float> logits) const {
  const std::vector<float> work = penalized_logits(logits);
  const size_t vocab = work.size();

  if (params_.temperature <= 0.0f) {  // greedy: argmax, ties to the lowest id
    size_t best = vocab;
    for (size_t i = 0; i < vocab; ++i) {
      if (work[i] != kNegInf && (best == vocab || work[i] > work[best])) best = i;
    }
    if (best == vocab) throw Error("sampler: every logit is NaN or -inf");
    return {Kept{static_cast<int32_t>(best), 1.0}};
  }

  // Candidates: finite logits, or only the +inf ones (as equal logits) if there are any.
  const bool any_pos_inf = std::any_of(work.begin(), work.end(), [](float v) { return v == -kNegInf; });
  auto is_candidate = [any_pos_inf](float v) { return any_pos_inf ? v == -kNegInf : is_finite(v); };
  std::vector<Candidate> cand = params_.top_k > 0 ? top_k_candidates(work, static_cast<size_t>(params_.top_k), is_candidate)
                                                  : std::vector<Candidate>{};
  if (params_.top_k <= 0) {
    cand.reserve(vocab);
    for (size_t i = 0; i < vocab; ++i) {
      if (is_candidate(work[i])) cand.push_back({static_cast<int32_t>(i), work[i], 0.0});
    }
  }
  // Id order from here on: the softmax sum then adds in the same order on every platform
  // (the heap's internal order is up to the standard library).
  std::sort(cand.begin(), cand.end(), [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
  if (any_pos_inf) {
    for (auto& c : cand) c.logit = 0.0f;
  }
  if (cand.empty()) throw Error("sampler: every logit is NaN or -inf");

  // Temperature + softmax in double: p_i = exp((l_i - l_max) / T) / sum.
  float max_logit = cand[0].logit;
  for (const auto& c : cand) max_logit = std::max(max_logit, c.logit);
  const double temperature = params_.temperature;
  double sum = 0.0;
  for (auto& c : cand) {
    c.prob = std::exp((static_cast<double>(c.logit) - max_logit) / temperature);
    sum += c.prob;
  }
  for (auto& c : cand) c.prob /= sum;
  const double p_max = 1.0 / sum;  // the max logit's exp is exactly 1

  // Min-p drops every token with p < min_p * p_max. Those tokens are a suffix of the descending
  // order, so dropping them first leaves top-p's prefix sums (which use the same p) unchanged.
  if (params_.min_p > 0.0f) {
    // Capped at p_max so that the most likely token always survives (min_p > 1 keeps just it).
    const double threshold = std::min(static_cast<double>(params_.min_p) * p_max, p_max);
    std::erase_if(cand, [threshold](const Candidate& c) { return c.prob < threshold; });
  }

  // Top-p: the smallest prefix (descending p) whose sum reaches top_p, at least one token.
  // Sorted in growing chunks so that a small nucleus never pays for sorting the whole vocabulary.
  if (params_.top_p < 1.0f) {
    const double top_p = params_.top_p;
    double cumulative = 0.0;
    size_t begin = 0;
    size_t chunk = 64;
    size_t keep = cand.size();
    while (begin < cand.size() && keep == cand.size()) {
      const size_t end = std::min(cand.size(), begin + chunk);
      std::partial_sort(cand.begin() + static_cast<std::ptrdiff_t>(begin), cand.begin() + static_cast<std::ptrdiff_t>(end),
                        cand.end(), by_prob);
      for (size_t i = begin; i < end; ++i) {
        cumulative += cand[i].prob;
        if (cumulative >= top_p) {
          keep = i + 1;
          break;
        }
      }
      begin = end;
      chunk *= 2;
    }
    cand.resize(keep);
  }

  // Renormalise, in id order so the sums and the draw are the same on every platform.
  std::sort(cand.begin(), cand.end(), [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
  double kept_sum = 0.0;
  for (const auto& c : cand) kept_sum += c.prob;
  std::vector<Kept> kept;
  kept.reserve(cand.size());
  for (const auto& c : cand) kept.push_back({c.id, c.prob / kept_sum});
  return kept;
}

int32_t Sampler::sample(std::span<const float> logits) {
  const std::vector<Kept> kept = distribution(logits);
  if (kept.size() == 1) return kept[0].id;
  // Uniform double in [0, 1) from the top 53 bits: no std distribution, so platform-stable.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  double cumulative = 0.0;
  for (const auto& k : kept) {
    cumulative += k.prob;
    if (u < cumulative) return k.id;
  }
  // Rounding left u just above the last partial sum: take the last token with mass.
  for (auto it = kept.rbegin(); it != kept.rend(); ++it) {
    if (it->prob > 0.0) return it->id;
  }
  return kept.back().id;
}

std::vector<float> Sampler::probabilities(std::span<const float> logits) const {
  std::vector<float> out(static_cast<size_t>(vocab_size_), 0.0f);
  for (const auto& k : distribution(logits)) out[static_cast<size_t>(k.id)] = static_cast<float>(k.prob);
  return out;
}

}  // namespace hearth
