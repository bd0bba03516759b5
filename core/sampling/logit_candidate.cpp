#include "core/sampling/logit_candidate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/sampling/sampler.h"

namespace hearth {

void select_top_logits(std::span<const float> row, std::span<LogitCandidate> out) {
  const size_t k = out.size();
  if (k == 0) return;
  if (k == 1) {  // greedy: the vectorised argmax (it skips -inf too; a row of only -inf/NaN goes the long way)
    const int32_t best = argmax_logits(row);
    if (best >= 0) {
      out[0] = LogitCandidate{best, row[static_cast<size_t>(best)]};
      return;
    }
  }
  auto better = [](const LogitCandidate& a, const LogitCandidate& b) {
    return a.logit != b.logit ? a.logit > b.logit : a.id < b.id;
  };
  // A min-heap (by `better`) of the k best seen so far; a value below its worst is skipped at once.
  std::vector<LogitCandidate> heap;
  heap.reserve(std::min(k, row.size()));
  for (size_t i = 0; i < row.size(); ++i) {
    const float v = row[i];
    if (std::isnan(v)) continue;
    const LogitCandidate c{static_cast<int32_t>(i), v};
    if (heap.size() < k) {
      heap.push_back(c);
      std::push_heap(heap.begin(), heap.end(), better);
    } else if (v > heap.front().logit) {  // an equal value has a higher id: it loses the tie
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = c;
      std::push_heap(heap.begin(), heap.end(), better);
    }
  }
  std::sort(heap.begin(), heap.end(), better);
  std::copy(heap.begin(), heap.end(), out.begin());
  for (size_t i = heap.size(); i < k; ++i) out[i] = LogitCandidate{-1, std::numeric_limits<float>::quiet_NaN()};
}

}  // namespace hearth
