#pragma once
// RoPE on the new tokens' queries and keys, fused with writing their keys and values into the
// paged F16 KV pool (layout: paged_kv.h).
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/paged_kv.h"

namespace hearth::kernels::cuda {

struct RopeKvShape {
  int64_t n_tokens = 0;
  int64_t n_head = 0;     // query heads
  int64_t rope_dims = 0;  // leading dims of each head that are rotated (even, <= head_dim)
  bool halves = false;    // false: pairs (x[2i], x[2i+1]) (llama); true: (x[i], x[i + rope_dims/2]) (neox)
  int64_t layer = 0;
  PagedKvLayout kv;       // n_kv_head, head_dim, block_tokens of the pool
};

// q: [n_tokens, n_head, head_dim] float32, rotated in place.
// k, v: [n_tokens, n_kv_head, head_dim] float32 (read only); k is rotated on its way to the pool.
// rope_cos_sin: [max_position + 1][rope_dims / 2][2] (cos, sin) float32, indexed by positions[t].
// kv_pool: the F16 pool; token t's K/V rows land in block block_tables[table_offsets[t] +
// positions[t] / block_tokens], row positions[t] % block_tokens, of layer `layer`.
cudaError_t rope_kv_write(float* q, const float* k, const float* v, const float* rope_cos_sin,
                          const int32_t* positions, const int32_t* table_offsets, const int32_t* block_tables,
                          void* kv_pool, const RopeKvShape& shape, cudaStream_t stream);

}  // namespace hearth::kernels::cuda
