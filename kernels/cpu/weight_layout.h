#pragma once
// How a weight matrix's bytes are arranged in memory, and the repack from the file's row-major
// layout into the row-interleaved one the group kernels read.
//
// kRowMajor: row r is row_bytes(type, n_cols) bytes at w + r * row_bytes (the GGUF layout).
// kInterleaved8: the rows come in groups of kInterleaveRows = 8. Group g (rows 8g..8g+7) takes
//   the same bytes as those 8 rows do in row-major order, starting at w + 8g * row_bytes, but
//   its blocks are interleaved so one load of activations serves all 8 rows:
//     Q4_0: per block column b (32 elements), one BlockQ4_0x8 = the 8 rows' fp16 scales, then
//           their nibbles in 4-byte pieces: qs[32 j + 4 r + t] = row r's qs[4 j + t]
//           (j, t in [0, 4)). A 32-bit lane r of a 256-bit load then holds 4 bytes of row r,
//           whose low nibbles are elements 4j..4j+3 and high nibbles 16+4j..16+4j+3.
//     Q4_K: per super-block column b (256 elements), one BlockQ4_Kx8 = the 8 rows' d, then
//           their dmin, then their 12 packed scale bytes and 128 nibble bytes, each array
//           interleaved in the same 4-byte pieces (piece i of row r at 32 i + 4 r). A 32-bit
//           lane r then holds row r's packed scale word w (unpacked for 8 rows with the same
//           shifts and masks as one row's), or nibbles whose low halves are elements
//           64j + 4k..+3 (sub-block 2j) and high halves 64j + 32 + 4k..+3 (sub-block 2j + 1)
//           for piece i = 8j + k.
//     Q6_K: per super-block column, one BlockQ6_Kx8 = the 8 rows' ql, qh and int8 scales, each
//           array in the same 4-byte pieces, then their fp16 d. For half h and k in [0, 8),
//           ql pieces 16h + k and 16h + 8 + k with qh piece 8h + k give elements
//           128h + 32g + 4k..+3 for g = 0..3 (the row layout's low / high nibbles and bit pairs).
//   Rows past the last whole group (n_rows % 8 of them) stay row-major at their usual offsets.
//   The total size is the row-major size, so every offset outside a group's interior is
//   unchanged.
// Every SIMD level (portable included) has kernels for both layouts of the types that
// supports_interleaved() accepts.
#include <cstdint>

#include "kernels/common/dtype.h"
#include "kernels/cpu/kernel_status.h"

namespace hearth::kernels::cpu {

enum class WeightLayout : uint8_t { kRowMajor = 0, kInterleaved8 = 1 };

inline constexpr int kInterleaveRows = 8;

struct BlockQ4_0x8 {
  uint16_t d[8];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ4_0x8) == 8 * 18);

struct BlockQ4_Kx8 {
  uint16_t d[8];
  uint16_t dmin[8];
  uint8_t scales[96];
  uint8_t qs[1024];
};
static_assert(sizeof(BlockQ4_Kx8) == 8 * 144);

struct BlockQ6_Kx8 {
  uint8_t ql[1024];
  uint8_t qh[512];
  int8_t scales[128];
  uint16_t d[8];
};
static_assert(sizeof(BlockQ6_Kx8) == 8 * 210);

// Whether kInterleaved8 exists for this weight type.
constexpr bool supports_interleaved(DType type) {
  return type == DType::Q4_0 || type == DType::Q4_K || type == DType::Q6_K;
}

// Whether ResidentWeights repacks matrices of this type at load (a subset of
// supports_interleaved). Q6_K is left row-major: its
// group kernel is faster on cache-resident data (36 vs 25 GB/s per core) but streams weights from
// DRAM at only 8-16 GB/s (1-2 threads) where the row kernel reaches 23-35, and decode reads
// every weight from DRAM (bench/RESULTS.md, 2026-11-27).
constexpr bool repack_at_load(DType type) { return type == DType::Q4_0 || type == DType::Q4_K; }

// Repacks whole row groups [group_begin, group_end) of a row-major matrix at src (n_cols columns)
// into the kInterleaved8 layout at dst; both pointers are the matrix's start, and only the bytes
// of those groups are written. src and dst must not overlap.
// Rows past the last whole group are not touched: copy them as they are.
KernelStatus interleave_row_groups(DType type, const void* src, void* dst, int64_t n_cols, int64_t group_begin,
                                   int64_t group_end);

// Row `row` of a matrix w [n_rows x n_cols] stored in `layout`, written to dst in the row-major
// (file) encoding: row_bytes(type, n_cols) bytes. Used for embedding lookups in a tied
// token-embedding/output matrix that was repacked for the output product.
KernelStatus copy_row_major(DType type, WeightLayout layout, const void* w, int64_t n_rows, int64_t n_cols,
                            int64_t row, void* dst);

}  // namespace hearth::kernels::cpu
