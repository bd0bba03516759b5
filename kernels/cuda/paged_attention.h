#pragma once
// Causal grouped-query attention of a batch of new tokens over the paged F16 KV pool
// (layout and per-token addressing: paged_kv.h).
//
// One thread block per (token, KV head, split): it reads each K/V row of its range once and
// scores every query head of the GQA group against it, with an online softmax over tiles of
// positions (no n^2 buffer). Long contexts with few tokens (decode) are split over n_splits
// ranges of positions, merged by a second small kernel; the split count is a launch parameter,
// each token's range is divided on the device, so a captured CUDA graph stays valid while the
// context grows.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/paged_kv.h"

namespace hearth::kernels::cuda {

struct PagedAttentionShape {
  int64_t n_tokens = 0;
  int64_t n_head = 0;  // query heads; n_head % kv.n_kv_head == 0
  int64_t layer = 0;
  PagedKvLayout kv;
  float scale = 0.0f;  // usually 1 / sqrt(head_dim)
  int n_splits = 1;    // >= 1
  // 0: each token's range 0 .. positions[t] is divided into n_splits near-equal parts (so the
  // result depends on n_splits). > 0: split i covers positions [i * split_positions,
  // (i + 1) * split_positions) of every token, and n_splits must cover the longest one
  // (n_splits * split_positions > max positions[t]); splits past a token's end are empty. Then a
  // token's result depends only on its own length and split_positions, not on the batch it is
  // in or on n_splits: decode, several sequences and speculative verify rows agree bit for bit.
  int64_t split_positions = 0;
};

// Device workspace for the split partial results (0 when n_splits == 1). With split_positions > 0
// it starts with per-(token, KV head) arrival counters (the decode kernel merges its splits
// itself, no second launch): such a workspace must be ZEROED once before its first use
// (cudaMemset); every launch leaves the counters at zero again, so it can then be reused for any
// token and split count of the same KV layout.
size_t paged_attention_workspace_bytes(const PagedAttentionShape& shape);

// q:   [n_tokens, n_head, head_dim] float32 (already rotated)
// out: [n_tokens, n_head, head_dim] float32
// Token t attends to positions 0 .. positions[t] of its sequence, whose K/V must already be in the
// pool (this batch's own tokens included: run rope_kv_write first).
// Returns cudaErrorInvalidValue for shapes it cannot run (e.g. a GQA group too large for shared memory).
cudaError_t paged_attention(const float* q, const void* kv_pool, const int32_t* positions,
                            const int32_t* table_offsets, const int32_t* block_tables, float* out,
                            void* workspace, const PagedAttentionShape& shape, cudaStream_t stream);

// The same, also writing out in the int8 form the quantized matvec reads (quant_matmul.h,
// q8_input_bytes(n_tokens, n_head * head_dim) bytes at q8, 16-byte aligned), so the attention-
// output product needs no quantization launch. Needs head_dim % 32 == 0 (else
// cudaErrorInvalidValue); q8 = nullptr: as paged_attention.
cudaError_t paged_attention_q8(const float* q, const void* kv_pool, const int32_t* positions,
                               const int32_t* table_offsets, const int32_t* block_tables, float* out,
                               void* workspace, const PagedAttentionShape& shape, void* q8, cudaStream_t stream);

}  // namespace hearth::kernels::cuda
