#pragma once
// Causal grouped-query attention of a block of new tokens over a contiguous KV cache (CPU).
#include <cstdint>

#include "kernels/cpu/thread_pool.h"

namespace hearth::kernels::cpu {

struct AttentionShape {
  int64_t n_tokens = 0;   // new tokens, at positions n_past .. n_past + n_tokens - 1
  int64_t n_past = 0;     // tokens already in the cache before this block
  int64_t n_head = 0;
  int64_t n_head_kv = 0;  // n_head % n_head_kv == 0; heads h*g .. h*g+g-1 share kv head h
  int64_t head_dim = 0;
  float scale = 0.0f;     // usually 1 / sqrt(head_dim)
};

// q:   [n_tokens, n_head, head_dim]
// k,v: [n_past + n_tokens (at least), n_head_kv, head_dim] (rows of kv_stride floats)
// out: [n_tokens, n_head, head_dim]
// Token t attends to cache positions 0 .. n_past + t. Each K/V row is read once per GQA group
// (all query heads of the group are scored together), with an online softmax: no n^2 buffer.
void attention(const float* q, const float* k, const float* v, int64_t kv_stride, float* out,
               const AttentionShape& shape, ThreadPool& pool);

}  // namespace hearth::kernels::cpu
