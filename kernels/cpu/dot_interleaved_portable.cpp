// Scalar group dot kernels over kInterleaved8 weights (dot_interleaved.h): the reference the
// AVX2 group kernels must agree with. Same per-block int32 sums as portable::dot_q4_0.
#include "kernels/cpu/dot_interleaved.h"

#include <cstring>

#include "kernels/cpu/dot_portable.h"
#include "kernels/cpu/quant_blocks.h"
#include "kernels/cpu/weight_layout.h"

namespace hearth::kernels::cpu::portable {

void dot_q4_0_x8(const void* w_group, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  const auto* wb = static_cast<const BlockQ4_0x8*>(w_group);
  const int64_t nb = n / kQK4_0;
  for (int j = 0; j < nx; ++j) {
    const auto* xb = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(x) + static_cast<size_t>(j) * x_stride);
    for (int r = 0; r < kInterleaveRows; ++r) {
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        int32_t isum = 0;
        for (int k = 0; k < 4; ++k) {
          for (int t = 0; t < 4; ++t) {
            const uint8_t q = wb[b].qs[32 * k + 4 * r + t];
            isum += ((q & 0xF) - 8) * xb[b].qs[4 * k + t];
            isum += ((q >> 4) - 8) * xb[b].qs[16 + 4 * k + t];
          }
        }
        acc += half_to_float(wb[b].d[r]) * half_to_float(xb[b].d) * static_cast<float>(isum);
      }
      out[kInterleaveRows * j + r] = acc;
    }
  }
}

// Q4_K: each row's super-block is put back together from its 4-byte pieces and handed to the
// row kernel (one block at a time, so the float sums run in the same order as there).
void dot_q4_K_x8(const void* w_group, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  const auto* wb = static_cast<const BlockQ4_Kx8*>(w_group);
  const int64_t nb = n / kQK_K;
  float acc[kMaxDotRows * kInterleaveRows] = {};
  for (int64_t b = 0; b < nb; ++b) {
    for (int r = 0; r < kInterleaveRows; ++r) {
      BlockQ4_K row_block;
      row_block.d = wb[b].d[r];
      row_block.dmin = wb[b].dmin[r];
      for (int i = 0; i < 3; ++i) std::memcpy(row_block.scales + 4 * i, wb[b].scales + 32 * i + 4 * r, 4);
      for (int i = 0; i < 32; ++i) std::memcpy(row_block.qs + 4 * i, wb[b].qs + 32 * i + 4 * r, 4);
      float block_dots[kMaxDotRows];
      dot_q4_K(&row_block, static_cast<const uint8_t*>(x) + b * sizeof(BlockQ8_K), x_stride, nx, kQK_K, block_dots);
      for (int j = 0; j < nx; ++j) acc[kInterleaveRows * j + r] += block_dots[j];
    }
  }
  for (int i = 0; i < nx * kInterleaveRows; ++i) out[i] = acc[i];
}

// Q6_K: the same, with the row kernel of Q6_K.
void dot_q6_K_x8(const void* w_group, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  const auto* wb = static_cast<const BlockQ6_Kx8*>(w_group);
  const int64_t nb = n / kQK_K;
  float acc[kMaxDotRows * kInterleaveRows] = {};
  for (int64_t b = 0; b < nb; ++b) {
    for (int r = 0; r < kInterleaveRows; ++r) {
      BlockQ6_K row_block;
      for (int i = 0; i < 32; ++i) std::memcpy(row_block.ql + 4 * i, wb[b].ql + 32 * i + 4 * r, 4);
      for (int i = 0; i < 16; ++i) std::memcpy(row_block.qh + 4 * i, wb[b].qh + 32 * i + 4 * r, 4);
      for (int i = 0; i < 4; ++i) std::memcpy(row_block.scales + 4 * i, wb[b].scales + 32 * i + 4 * r, 4);
      row_block.d = wb[b].d[r];
      float block_dots[kMaxDotRows];
      dot_q6_K(&row_block, static_cast<const uint8_t*>(x) + b * sizeof(BlockQ8_K), x_stride, nx, kQK_K, block_dots);
      for (int j = 0; j < nx; ++j) acc[kInterleaveRows * j + r] += block_dots[j];
    }
  }
  for (int i = 0; i < nx * kInterleaveRows; ++i) out[i] = acc[i];
}

}  // namespace hearth::kernels::cpu::portable
