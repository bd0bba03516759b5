#pragma once
// Causal grouped-query attention of new tokens over a paged KV cache (CPU): several sequences
// at once, each reading its keys and values through its own table of fixed-size blocks.
//
// Pool layout (the host layout of core/kv/kv_geometry.h): a block is `block_stride` floats; one
// layer's keys inside a block start `k_offset` floats from the block's start and are
//   [n_head_kv][block_tokens][head_dim]
// (values likewise at `v_offset`), so the rows of one KV head in one block are contiguous.
#include <cstdint>
#include <span>

#include "kernels/cpu/kernel_status.h"
#include "kernels/cpu/matmul.h"  // SimdLevel
#include "kernels/cpu/thread_pool.h"

namespace hearth::kernels::cpu {

// Where one layer's keys and values are in the block pool.
struct PagedKvLayer {
  const float* pool = nullptr;  // block 0
  int64_t block_stride = 0;     // floats from one block to the next
  int64_t k_offset = 0;         // floats from a block's start to this layer's keys
  int64_t v_offset = 0;         // ... and to its values
  int64_t block_tokens = 0;     // positions per block
};

struct PagedAttentionShape {
  int64_t n_head = 0;
  int64_t n_head_kv = 0;  // n_head % n_head_kv == 0; heads h*g .. h*g+g-1 share kv head h
  int64_t head_dim = 0;
  float scale = 0.0f;     // usually 1 / sqrt(head_dim)
};

// One sequence's new tokens, at positions n_past .. n_past + n_tokens - 1. Their own keys and
// values must already be in the blocks. Token t attends to positions 0 .. n_past + t.
struct PagedAttentionSequence {
  const float* q = nullptr;            // [n_tokens, n_head, head_dim]
  float* out = nullptr;                // [n_tokens, n_head, head_dim]
  int64_t n_tokens = 0;
  int64_t n_past = 0;
  const int32_t* block_table = nullptr;  // ceil((n_past + n_tokens) / block_tokens) valid block ids
};

// Work is split over (sequence, kv head, chunk of tokens). Within one unit every K/V row of the
// kv head is read once (a block at a time) for all the unit's tokens and all query heads of the
// group, with an online softmax: no [n, n] score buffer. Each output row is computed the same
// way whatever else is in the batch, so results do not depend on batching (bitwise).
// Block ids are trusted (the caller checks them). Returns kBadSize for an inconsistent shape.
// `level` picks the AVX2/FMA or the portable (SSE) code; the two round differently.
KernelStatus paged_attention(const PagedKvLayer& kv, const PagedAttentionShape& shape,
                             std::span<const PagedAttentionSequence> sequences, ThreadPool& pool,
                             SimdLevel level = detect_simd_level());

}  // namespace hearth::kernels::cpu
