#pragma once
// Greedy decoding through a whole-model Backend, for the GPU tests that compare devices token by
// token (test_cuda_backend, test_cuda_partial_offload).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/backend/backend.h"

namespace hearth::test {

inline int argmax(const float* v, int64_t n) { return int(std::max_element(v, v + n) - v); }

// n tokens after `prompt`, each the argmax of the previous step's logits; restarts the backend's
// single sequence (truncate(0)) first.
inline std::vector<TokenId> greedy(Backend& b, const std::vector<TokenId>& prompt, int n) {
  b.truncate(0);
  std::vector<float> logits;
  b.forward({prompt, false}, logits);
  std::vector<TokenId> out;
  for (int i = 0; i < n; ++i) {
    const TokenId t = argmax(logits.data(), b.n_vocab());
    out.push_back(t);
    const TokenId in[1] = {t};
    if (i + 1 < n) b.forward({in, false}, logits);
  }
  return out;
}

}  // namespace hearth::test
