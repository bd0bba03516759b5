#pragma once
// FlashAttention-style causal GQA attention of a chunk of new tokens over the paged F16 KV pool,
// for prefill passes (dozens to thousands of tokens, at any offset in a long context). Same
// inputs and result as paged_attention (paged_attention.h), computed on tensor cores. [pre4]
//
// One thread block per (tile of 64 / G consecutive tokens, KV head), G = n_head / n_kv_head: its
// 64 query rows are (token, head of the GQA group) pairs, so each K/V tile it reads serves every
// query head of the group. K/V tiles of 64 positions are copied into shared memory (cp.async);
// scores S = Q K^T and O += P V run as FP16 mma.sync (m16n8k16) with FP32 accumulation, with an
// online softmax (running max and sum per row in registers; no n^2 buffer). The causal mask is
// per token: token t sees positions 0 .. positions[t] of its own sequence. A token tile whose
// tokens belong to several sequences (a mixed batch) is processed once per sequence.
// Long contexts with few tokens split the positions over n_splits thread blocks per tile,
// merged by a second kernel (workspace: prefill_attention_workspace_bytes).
#include <cuda_runtime_api.h>

#include <cstddef>

#include "kernels/cuda/paged_attention.h"

namespace hearth::kernels::cuda {

// Whether prefill_attention runs this shape: head_dim 64 or 128, G = n_head / n_kv_head dividing 64.
bool prefill_attention_supported(const PagedAttentionShape& shape);

// Position splits worth using for shape.n_tokens tokens attending to up to max_len positions on a
// device with sm_count multiprocessors (1 when the token tiles alone fill it), at most as many as a
// workspace of workspace_bytes holds.
int prefill_attention_splits(const PagedAttentionShape& shape, int64_t max_len, int sm_count, size_t workspace_bytes);

// Device workspace for shape.n_splits > 1 (0 when n_splits == 1).
size_t prefill_attention_workspace_bytes(const PagedAttentionShape& shape);

// q:   [n_tokens, n_head, head_dim] float32 (already rotated); out: the same shape.
// positions / table_offsets / block_tables: paged_kv.h. The tokens' own K/V must already be in
// the pool (rope_kv_write first). shape.n_splits > 1 needs the workspace.
// cudaErrorInvalidValue for a shape it does not run (see prefill_attention_supported).
cudaError_t prefill_attention(const float* q, const void* kv_pool, const int32_t* positions,
                              const int32_t* table_offsets, const int32_t* block_tables, float* out,
                              void* workspace, const PagedAttentionShape& shape, cudaStream_t stream);

}  // namespace hearth::kernels::cuda
