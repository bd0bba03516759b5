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

#if defined(__SSE2__)
#include <immintrin.h>
#endif

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

// The largest value of values[0, n), NaN ignored (-inf when there is none). Eight independent
// lanes (`v > m ? v : m` is one max instruction per lane), so the compiler can keep it in
// vector registers: a 128,256-entry row is read at memory speed.
constexpr size_t kLanes = 8;
float max_ignoring_nan(const float* values, size_t n) {
  size_t i = 0;
  float out = kNegInf;
#if defined(__SSE2__)
  // maxps(v, m) is exactly `v > m ? v : m` per lane (m when v is NaN).
  __m128 m0 = _mm_set1_ps(kNegInf), m1 = m0;
  for (; i + kLanes <= n; i += kLanes) {
    m0 = _mm_max_ps(_mm_loadu_ps(values + i), m0);
    m1 = _mm_max_ps(_mm_loadu_ps(values + i + 4), m1);
  }
  alignas(16) float lanes[kLanes];
  _mm_store_ps(lanes, m0);
  _mm_store_ps(lanes + 4, m1);
  for (float v : lanes) out = v > out ? v : out;
#endif
  for (; i < n; ++i) out = values[i] > out ? values[i] : out;
  return out;
}

// True when one of values[0, kLanes) is >= threshold (NaN never is).
bool block_reaches(const float* values, float threshold) {
#if defined(__SSE2__)
  const __m128 t = _mm_set1_ps(threshold);
  const __m128 a = _mm_cmpge_ps(_mm_loadu_ps(values), t), b = _mm_cmpge_ps(_mm_loadu_ps(values + 4), t);
  return _mm_movemask_ps(_mm_or_ps(a, b)) != 0;
#else
  bool any = false;
  for (size_t j = 0; j < kLanes; ++j) any |= values[j] >= threshold;
  return any;
#endif
}

}  // namespace

// One pass, eight lanes each keeping its largest value and the first index holding it (a strict
// `>` keeps the earliest of equals); the lanes are then merged by value, ties to the lowest index.
int32_t argmax_logits(std::span<const float> values) {
  const size_t n = values.size();
  size_t i = 0;
  float best = kNegInf;
  int64_t best_i = -1;
#if defined(__SSE2__)
  if (n >= kLanes) {
    __m128 m0 = _mm_set1_ps(kNegInf), m1 = m0;
    __m128i i0 = _mm_set1_epi32(-1), i1 = i0;
    __m128i at0 = _mm_setr_epi32(0, 1, 2, 3), at1 = _mm_setr_epi32(4, 5, 6, 7);
    const __m128i step = _mm_set1_epi32(static_cast<int>(kLanes));
    for (; i + kLanes <= n && i + kLanes <= 0x7fffffffu; i += kLanes) {
      const __m128 v0 = _mm_loadu_ps(values.data() + i), v1 = _mm_loadu_ps(values.data() + i + 4);
      const __m128 g0 = _mm_cmpgt_ps(v0, m0), g1 = _mm_cmpgt_ps(v1, m1);  // false for NaN
      m0 = _mm_or_ps(_mm_and_ps(g0, v0), _mm_andnot_ps(g0, m0));
      m1 = _mm_or_ps(_mm_and_ps(g1, v1), _mm_andnot_ps(g1, m1));
      i0 = _mm_or_si128(_mm_and_si128(_mm_castps_si128(g0), at0), _mm_andnot_si128(_mm_castps_si128(g0), i0));
      i1 = _mm_or_si128(_mm_and_si128(_mm_castps_si128(g1), at1), _mm_andnot_si128(_mm_castps_si128(g1), i1));
      at0 = _mm_add_epi32(at0, step);
      at1 = _mm_add_epi32(at1, step);
    }
    alignas(16) float mv[kLanes];
    alignas(16) int32_t mi[kLanes];
    _mm_store_ps(mv, m0);
    _mm_store_ps(mv + 4, m1);
    _mm_store_si128(reinterpret_cast<__m128i*>(mi), i0);
    _mm_store_si128(reinterpret_cast<__m128i*>(mi + 4), i1);
    for (size_t j = 0; j < kLanes; ++j) {
      if (mi[j] < 0) continue;
      if (best_i < 0 || mv[j] > best || (mv[j] == best && mi[j] < best_i)) {
        best = mv[j];
        best_i = mi[j];
      }
    }
  }
#endif
  for (; i < n; ++i) {
    const float v = values[i];
    if (v > best) {  // the tail's indices are above every lane's
      best = v;
      best_i = static_cast<int64_t>(i);
    }
  }
  return static_cast<int32_t>(best_i);
}

namespace {

// Once the heap is full, a block of kLanes values whose maximum is below the worst kept value
// cannot contribute (an equal value with a higher id would lose the tie too) and is skipped
// after one vectorizable max: most of a large vocabulary is never compared one by one.
// `overlay`: (id, value) pairs sorted by id that replace values[id] (the penalised tokens), so
// the row itself is never copied.
template <typename Keep>
std::vector<Candidate> top_k_candidates(std::span<const float> values, size_t k, Keep keep,
                                        std::span<const std::pair<int32_t, float>> overlay = {}) {
  std::vector<Candidate> heap;
  heap.reserve(std::min(k, values.size()));
  auto in_overlay = [&](size_t i) {
    const auto it = std::lower_bound(overlay.begin(), overlay.end(), static_cast<int32_t>(i),
                                     [](const std::pair<int32_t, float>& e, int32_t id) { return e.first < id; });
    return it != overlay.end() && it->first == static_cast<int32_t>(i);
  };
  auto offer_value = [&](size_t i, float v) {
    if (!keep(v)) return;
    const Candidate c{static_cast<int32_t>(i), v, 0.0};
    if (heap.size() < k) {
      heap.push_back(c);
      std::push_heap(heap.begin(), heap.end(), by_logit);
    } else if (by_logit(c, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), by_logit);
      heap.back() = c;
      std::push_heap(heap.begin(), heap.end(), by_logit);
    }
  };
  auto offer = [&](size_t i) {
    if (!overlay.empty() && in_overlay(i)) return;
    offer_value(i, values[i]);
  };
  for (const auto& [id, v] : overlay) offer_value(static_cast<size_t>(id), v);
  size_t i = 0;
  for (; i + kLanes <= values.size(); i += kLanes) {
    if (heap.size() == k && k > 0 && !block_reaches(values.data() + i, heap.front().logit)) continue;
    for (size_t j = 0; j < kLanes; ++j) offer(i + j);
  }
  for (; i < values.size(); ++i) offer(i);
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

// The end of the chain over the candidates (top-k's survivors, or every candidate without top-k),
// in any order: temperature + softmax, min-p, top-p, renormalisation. Returns the kept set sorted
// by id with probabilities summing to 1. Shared by the whole-row and the best-k paths so both
// draw from the same distribution, bit for bit.
std::vector<Candidate> kept_distribution(std::vector<Candidate> cand, bool any_pos_inf, const SamplingParams& params_) {
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
  for (auto& c : cand) c.prob /= kept_sum;
  return cand;
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

bool Sampler::penalties_active() const {
  const bool any_penalty = params_.repeat_penalty != 1.0f || params_.presence_penalty != 0.0f ||
                           params_.frequency_penalty != 0.0f;
  return any_penalty && params_.penalty_last_n != 0 && !history_.empty();
}

void Sampler::check_size(std::span<const float> logits) const {
  if (logits.size() != static_cast<size_t>(vocab_size_))
    throw Error("sampler: got " + std::to_string(logits.size()) + " logits for a vocabulary of " +
                std::to_string(vocab_size_));
}

// The penalised tokens as (id, value) sorted by id: repetition, presence and frequency penalties
// over the distinct tokens of the last penalty_last_n accepted tokens. A NaN logit stays NaN and
// +-inf stay as they are (dividing or subtracting cannot change them). Empty without penalties.
std::vector<std::pair<int32_t, float>> Sampler::penalty_overlay(std::span<const float> logits) const {
  std::vector<std::pair<int32_t, float>> out;
  if (!penalties_active()) return out;
  const int32_t n = params_.penalty_last_n;
  const size_t window = n < 0 ? history_.size() : std::min(history_.size(), static_cast<size_t>(n));
  std::vector<int32_t> recent(history_.end() - static_cast<std::ptrdiff_t>(window), history_.end());
  std::sort(recent.begin(), recent.end());
  for (size_t i = 0; i < recent.size();) {
    size_t j = i;
    while (j < recent.size() && recent[j] == recent[i]) ++j;
    const int32_t token = recent[i];
    const auto count = static_cast<float>(j - i);
    float v = logits[static_cast<size_t>(token)];
    if (is_finite(v)) {
      v = v > 0.0f ? v / params_.repeat_penalty : v * params_.repeat_penalty;
      v -= count * params_.frequency_penalty + params_.presence_penalty;
    }
    out.emplace_back(token, v);
    i = j;
  }
  return out;
}

// The kept set with normalised probabilities, sorted by id: [(id, p)], sum p = 1.
std::vector<Sampler::Kept> Sampler::distribution(std::span<const float> logits) const {
  check_size(logits);
  // The row is never copied: NaN is ignored by every step below (comparisons with it are false
  // and the filters drop it), and penalised tokens come from a small overlay.
  const std::vector<std::pair<int32_t, float>> overlay = penalty_overlay(logits);
  const size_t vocab = logits.size();

  if (params_.temperature <= 0.0f) {  // greedy: argmax, ties to the lowest id, NaN and -inf never
    int32_t best = -1;
    if (overlay.empty()) {
      best = argmax_logits(logits);
    } else {
      const auto top = top_k_candidates(logits, 1, [](float v) { return v > kNegInf; }, overlay);
      if (!top.empty()) best = top[0].id;
    }
    if (best < 0) throw Error("sampler: every logit is NaN or -inf");
    return {Kept{best, 1.0}};
  }

  // Candidates: finite logits, or only the +inf ones (as equal logits) if there are any
  // (penalties never change an infinity, so the raw row answers that).
  const bool any_pos_inf = max_ignoring_nan(logits.data(), vocab) == -kNegInf;
  auto is_candidate = [any_pos_inf](float v) { return any_pos_inf ? v == -kNegInf : is_finite(v); };
  std::vector<Candidate> cand;
  if (params_.top_k > 0) {
    cand = top_k_candidates(logits, static_cast<size_t>(params_.top_k), is_candidate, overlay);
  } else {
    cand.reserve(vocab);
    size_t next = 0;  // overlay entries are sorted by id
    for (size_t i = 0; i < vocab; ++i) {
      float v = logits[i];
      if (next < overlay.size() && overlay[next].first == static_cast<int32_t>(i)) v = overlay[next++].second;
      if (is_candidate(v)) cand.push_back({static_cast<int32_t>(i), v, 0.0});
    }
  }
  std::vector<Kept> kept;
  kept.reserve(cand.size());
  for (const auto& c : kept_distribution(std::move(cand), any_pos_inf, params_)) kept.push_back({c.id, c.prob});
  return kept;
}

// [host5] The chain needs only the best entries when nothing can lift a token from outside them:
// greedy takes the first, top-k sampling the first top_k; penalties change values, so with an
// active penalty the whole row is needed.
int32_t Sampler::candidates_needed(int32_t max_k) const {
  if (penalties_active()) return 0;
  if (params_.temperature <= 0.0f) return max_k >= 1 ? 1 : 0;
  return params_.top_k > 0 && params_.top_k <= max_k ? params_.top_k : 0;
}

// The same kept set as distribution() on the whole row: greedy's argmax is the first entry; top-k
// keeps the top_k best of the candidates (finite values, or only the +inf ones), which are the
// candidates among the first top_k entries because non-candidates (-inf, or finite values beside
// +inf) rank below every candidate in the entries' order.
std::vector<Sampler::Kept> Sampler::distribution_from_best(std::span<const LogitCandidate> best) const {
  const size_t needed = static_cast<size_t>(std::max(1, candidates_needed(std::numeric_limits<int32_t>::max())));
  if (penalties_active() || best.size() < needed) {
    throw Error("sampler: " + std::to_string(best.size()) + " best logits given, the chain needs " +
                (penalties_active() ? std::string("the whole row (penalties)") : std::to_string(needed)));
  }
  for (const auto& c : best) {
    if (c.id >= vocab_size_) throw Error("sampler: candidate id " + std::to_string(c.id) + " outside the vocabulary");
  }
  if (params_.temperature <= 0.0f) {
    if (best[0].id < 0 || !(best[0].logit > kNegInf)) throw Error("sampler: every logit is NaN or -inf");
    return {Kept{best[0].id, 1.0}};
  }
  const bool any_pos_inf = best[0].id >= 0 && best[0].logit == -kNegInf;
  auto is_candidate = [any_pos_inf](float v) { return any_pos_inf ? v == -kNegInf : is_finite(v); };
  std::vector<Candidate> cand;
  cand.reserve(needed);
  for (size_t i = 0; i < needed; ++i) {
    if (best[i].id >= 0 && is_candidate(best[i].logit)) cand.push_back({best[i].id, best[i].logit, 0.0});
  }
  std::vector<Kept> kept;
  kept.reserve(cand.size());
  for (const auto& c : kept_distribution(std::move(cand), any_pos_inf, params_)) kept.push_back({c.id, c.prob});
  return kept;
}

int32_t Sampler::sample_best(std::span<const LogitCandidate> best) { return draw(distribution_from_best(best)); }

int32_t Sampler::sample(std::span<const float> logits) { return draw(distribution(logits)); }

int32_t Sampler::draw(const std::vector<Kept>& kept) {
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
