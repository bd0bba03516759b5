#pragma once
// How the CUDA kernels address the paged KV pool. Shared by rope_kv_write and paged_attention.
//
// Pool: `n_blocks` blocks of F16 elements, each block laid out exactly as the serialized layout of
// core/kv/kv_geometry.h, so that reading/writing a block to the host is one plain copy:
//   block: [n_layer][2 (K, V)][n_kv_head][block_tokens][head_dim]
// Head-major inside a block: the rows of one KV head are contiguous, so one read of a K/V row
// serves every query head of its GQA group.
//
// Tokens of a batch (several sequences, each with a few new tokens) are described per token:
//   positions[t]      position of token t in its sequence (its K/V go to that position)
//   table_offsets[t]  index into block_tables where the table of t's sequence starts
//   block_tables[]    physical block of positions [i * block_tokens, (i + 1) * block_tokens)
// All three are device int32 arrays. The caller validates them (positions inside the table,
// block ids inside the pool) before they reach a kernel.
#include <cstdint>

#ifdef __CUDACC__
#define HEARTH_HOST_DEVICE __host__ __device__
#else
#define HEARTH_HOST_DEVICE
#endif

namespace hearth::kernels::cuda {

struct PagedKvLayout {
  int64_t n_layer = 0;
  int64_t n_kv_head = 0;
  int64_t head_dim = 0;
  int64_t block_tokens = 16;

  // Elements (F16) of one block; the K rows of (layer, kv_head) start at
  // block * block_elements() + kv_offset(layer, 0, kv_head); V rows at kv_offset(layer, 1, kv_head).
  HEARTH_HOST_DEVICE int64_t block_elements() const { return 2 * n_layer * n_kv_head * block_tokens * head_dim; }
  HEARTH_HOST_DEVICE int64_t kv_offset(int64_t layer, int64_t k_or_v, int64_t kv_head) const {
    return ((layer * 2 + k_or_v) * n_kv_head + kv_head) * block_tokens * head_dim;
  }
};

}  // namespace hearth::kernels::cuda
