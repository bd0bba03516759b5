#pragma once
// The shape of one paged-KV block, agreed between the engine's block bookkeeping (core/kv), the
// backends that own the KV memory (core/backend/cpu, core/backend/cuda) and the persistent store
// (storage/). A block holds the keys and values of `block_tokens` consecutive positions of one
// sequence, for every layer.
//
// Serialized / host layout of one block (what Backend::read_kv_block returns and
// KvStore saves), elements of `dtype`:
//   [n_layer][2 (K, V)][n_kv_head][block_tokens][head_dim]
// Head-major inside a block so that attention reads the rows of one KV head contiguously and
// serves every query head of its GQA group from that one read. A backend may store blocks
// differently in device memory, but must convert to exactly this layout on read/write.
#include <cstdint>

#include "kernels/common/dtype.h"

namespace hearth {

struct KvGeometry {
  int64_t n_layer = 0;
  int64_t n_kv_head = 0;
  int64_t head_dim = 0;
  int64_t block_tokens = 16;
  DType dtype = DType::F32;  // F32 on the CPU, F16 on CUDA

  int64_t element_bytes() const { return dtype == DType::F32 ? 4 : 2; }
  // Bytes of one block, K and V of every layer.
  int64_t block_bytes() const { return 2 * n_layer * n_kv_head * block_tokens * head_dim * element_bytes(); }
  // Blocks a sequence of n_tokens positions needs.
  int64_t blocks_for(int64_t n_tokens) const { return (n_tokens + block_tokens - 1) / block_tokens; }

  bool operator==(const KvGeometry&) const = default;
};

}  // namespace hearth
