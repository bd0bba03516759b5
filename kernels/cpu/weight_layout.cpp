// Repack of row-major weights into the kInterleaved8 layout (weight_layout.h).
#include "kernels/cpu/weight_layout.h"

#include <cstring>

#include "kernels/cpu/quant_blocks.h"

namespace hearth::kernels::cpu {
namespace {

// Piece i (4 bytes) of row r's array `from` to dst + 32 i + 4 r, for all pieces of the array.
void interleave_pieces(const uint8_t* from, int r, int bytes, uint8_t* dst) {
  for (int i = 0; i < bytes / 4; ++i) std::memcpy(dst + 32 * i + 4 * r, from + 4 * i, 4);
}

// One group of 8 Q4_0 rows (nb blocks each, row-major at src) into nb BlockQ4_0x8 at dst.
void interleave_q4_0_group(const BlockQ4_0* src, int64_t nb, BlockQ4_0x8* dst) {
  for (int64_t b = 0; b < nb; ++b) {
    for (int r = 0; r < kInterleaveRows; ++r) {
      const BlockQ4_0& block = src[r * nb + b];
      dst[b].d[r] = block.d;
      interleave_pieces(block.qs, r, sizeof block.qs, dst[b].qs);
    }
  }
}

// The same for Q4_K super-blocks.
void interleave_q4_K_group(const BlockQ4_K* src, int64_t nb, BlockQ4_Kx8* dst) {
  for (int64_t b = 0; b < nb; ++b) {
    for (int r = 0; r < kInterleaveRows; ++r) {
      const BlockQ4_K& block = src[r * nb + b];
      dst[b].d[r] = block.d;
      dst[b].dmin[r] = block.dmin;
      interleave_pieces(block.scales, r, sizeof block.scales, dst[b].scales);
      interleave_pieces(block.qs, r, sizeof block.qs, dst[b].qs);
    }
  }
}

// The same for Q6_K super-blocks.
void interleave_q6_K_group(const BlockQ6_K* src, int64_t nb, BlockQ6_Kx8* dst) {
  for (int64_t b = 0; b < nb; ++b) {
    for (int r = 0; r < kInterleaveRows; ++r) {
      const BlockQ6_K& block = src[r * nb + b];
      interleave_pieces(block.ql, r, sizeof block.ql, dst[b].ql);
      interleave_pieces(block.qh, r, sizeof block.qh, dst[b].qh);
      interleave_pieces(reinterpret_cast<const uint8_t*>(block.scales), r, sizeof block.scales,
                        reinterpret_cast<uint8_t*>(dst[b].scales));
      dst[b].d[r] = block.d;
    }
  }
}

// The inverse of interleave_pieces: row r's pieces of the interleaved array back to `to`.
void gather_pieces(const uint8_t* interleaved, int r, int bytes, uint8_t* to) {
  for (int i = 0; i < bytes / 4; ++i) std::memcpy(to + 4 * i, interleaved + 32 * i + 4 * r, 4);
}

// Row r (in [0, 8)) of one interleaved group, nb blocks, back to row-major blocks at dst.
void gather_q4_0_row(const BlockQ4_0x8* group, int64_t nb, int r, BlockQ4_0* dst) {
  for (int64_t b = 0; b < nb; ++b) {
    dst[b].d = group[b].d[r];
    gather_pieces(group[b].qs, r, sizeof dst[b].qs, dst[b].qs);
  }
}

void gather_q4_K_row(const BlockQ4_Kx8* group, int64_t nb, int r, BlockQ4_K* dst) {
  for (int64_t b = 0; b < nb; ++b) {
    dst[b].d = group[b].d[r];
    dst[b].dmin = group[b].dmin[r];
    gather_pieces(group[b].scales, r, sizeof dst[b].scales, dst[b].scales);
    gather_pieces(group[b].qs, r, sizeof dst[b].qs, dst[b].qs);
  }
}

void gather_q6_K_row(const BlockQ6_Kx8* group, int64_t nb, int r, BlockQ6_K* dst) {
  for (int64_t b = 0; b < nb; ++b) {
    gather_pieces(group[b].ql, r, sizeof dst[b].ql, dst[b].ql);
    gather_pieces(group[b].qh, r, sizeof dst[b].qh, dst[b].qh);
    gather_pieces(reinterpret_cast<const uint8_t*>(group[b].scales), r, sizeof dst[b].scales,
                  reinterpret_cast<uint8_t*>(dst[b].scales));
    dst[b].d = group[b].d[r];
  }
}

}  // namespace

KernelStatus copy_row_major(DType type, WeightLayout layout, const void* w, int64_t n_rows, int64_t n_cols,
                            int64_t row, void* dst) {
  if (row < 0 || row >= n_rows || n_cols <= 0) return KernelStatus::kBadSize;
  const auto row_size = row_bytes(type, static_cast<uint64_t>(n_cols));
  if (!row_size || *row_size == 0) return KernelStatus::kBadSize;
  const size_t bytes = static_cast<size_t>(*row_size);
  const int64_t groups = n_rows / kInterleaveRows;
  if (layout == WeightLayout::kRowMajor || row >= groups * kInterleaveRows) {
    std::memcpy(dst, static_cast<const uint8_t*>(w) + static_cast<size_t>(row) * bytes, bytes);
    return KernelStatus::kOk;
  }
  if (!supports_interleaved(type)) return KernelStatus::kUnsupportedType;
  const int64_t block = type == DType::Q4_0 ? kQK4_0 : kQK_K;
  if (n_cols % block != 0) return KernelStatus::kBadSize;
  const int64_t nb = n_cols / block, g = row / kInterleaveRows;
  const int r = static_cast<int>(row % kInterleaveRows);
  switch (type) {
    case DType::Q4_0:
      gather_q4_0_row(static_cast<const BlockQ4_0x8*>(w) + g * nb, nb, r, static_cast<BlockQ4_0*>(dst));
      break;
    case DType::Q4_K:
      gather_q4_K_row(static_cast<const BlockQ4_Kx8*>(w) + g * nb, nb, r, static_cast<BlockQ4_K*>(dst));
      break;
    default:
      gather_q6_K_row(static_cast<const BlockQ6_Kx8*>(w) + g * nb, nb, r, static_cast<BlockQ6_K*>(dst));
      break;
  }
  return KernelStatus::kOk;
}

KernelStatus interleave_row_groups(DType type, const void* src, void* dst, int64_t n_cols, int64_t group_begin,
                                   int64_t group_end) {
  if (!supports_interleaved(type)) return KernelStatus::kUnsupportedType;
  const int64_t block = type == DType::Q4_0 ? kQK4_0 : kQK_K;
  if (n_cols <= 0 || n_cols % block != 0 || group_begin < 0 || group_end < group_begin) return KernelStatus::kBadSize;
  const int64_t nb = n_cols / block;
  for (int64_t g = group_begin; g < group_end; ++g) {
    const int64_t first = g * kInterleaveRows * nb;  // the group's first row block
    switch (type) {
      case DType::Q4_0:
        interleave_q4_0_group(static_cast<const BlockQ4_0*>(src) + first, nb, static_cast<BlockQ4_0x8*>(dst) + g * nb);
        break;
      case DType::Q4_K:
        interleave_q4_K_group(static_cast<const BlockQ4_K*>(src) + first, nb, static_cast<BlockQ4_Kx8*>(dst) + g * nb);
        break;
      default:
        interleave_q6_K_group(static_cast<const BlockQ6_K*>(src) + first, nb, static_cast<BlockQ6_Kx8*>(dst) + g * nb);
        break;
    }
  }
  return KernelStatus::kOk;
}

}  // namespace hearth::kernels::cpu
