#pragma once
// The best k entries of each logits row on the GPU, so that greedy and top-k sampling copy
// k * 8 bytes per row to the host instead of the whole row (n_vocab * 4 bytes: 0.5 MB at a
// 128,256-entry vocabulary, 8 MB per 16-row decode step). [host5]
//
// Order: value descending, then id ascending; NaN is never selected, -inf is (below every
// finite value); -0.0 counts as +0.0 (and comes back as +0.0). A row with fewer than k
// non-NaN entries ends with {id -1, NaN} padding. This is core/sampling/logit_candidate.h's
// contract, which the sampler's best-entries path relies on for exactness.
//
// Two launches: blocks of 4,096 entries each keep their k best (iterative block-wide maxima over
// 64-bit keys (orderable value bits << 32 | ~id), unique per row), then one block per row merges
// the chunks' lists.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace hearth::kernels::cuda {

struct LogitCandidate {  // the layout of hearth::LogitCandidate
  int32_t id;
  float logit;
};

constexpr int32_t kLogitSelectMaxK = 64;

// Device workspace bytes for `rows` rows of n_vocab entries with k best each; 0 when the shape is
// not supported (k outside 1 .. kLogitSelectMaxK, or ceil(n_vocab / 4096) * k > 4096, i.e. a
// vocabulary above 262,144 entries at k = 64).
size_t logit_select_workspace_bytes(int64_t rows, int64_t n_vocab, int32_t k);

// logits: device [rows, n_vocab] float32; out: device [rows, k]. Returns cudaErrorInvalidValue for
// an unsupported shape or a workspace smaller than logit_select_workspace_bytes().
cudaError_t logit_select_top_k(const float* logits, int64_t rows, int64_t n_vocab, int32_t k, void* workspace,
                               size_t workspace_bytes, LogitCandidate* out, cudaStream_t stream);

}  // namespace hearth::kernels::cuda
