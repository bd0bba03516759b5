// Scalar row dot kernels: the reference the AVX2 kernels must agree with. Each block's integer
// sum is computed exactly in int32 (the AVX2 code computes the same sums), then scaled in float.
#include "kernels/cpu/dot_portable.h"

#include "kernels/cpu/quant_blocks.h"

namespace hearth::kernels::cpu::portable {
namespace {

template <typename T>
const T* row_at(const void* base, size_t stride, int j) {
  return reinterpret_cast<const T*>(static_cast<const uint8_t*>(base) + static_cast<size_t>(j) * stride);
}

// Calls one_row(x_j) for each activation row and stores the result.
template <typename Act, typename OneRow>
void for_each_row(const void* x, size_t x_stride, int nx, float* out, OneRow one_row) {
  for (int j = 0; j < nx; ++j) out[j] = one_row(row_at<Act>(x, x_stride, j));
}

// Q4_K / Q5_K: element 64*k + l of a super-block uses sub-block 2k (l < 32) or 2k + 1.
// quant(k, l) returns the unsigned quant of element 64*k + l, l in [0, 64).
template <typename Quant>
float k_superblock_dot(uint16_t d, uint16_t dmin, const uint8_t* packed_scales, const BlockQ8_K& xb,
                       Quant quant) {
  uint8_t sc[8], mn[8];
  unpack_k_scales(packed_scales, sc, mn);
  int32_t isum = 0, imin = 0;
  for (int s = 0; s < 8; ++s) {
    const int k = s / 2, half = s % 2;
    int32_t sub = 0;
    for (int l = 0; l < 32; ++l) sub += quant(k, 32 * half + l) * xb.qs[64 * k + 32 * half + l];
    isum += sc[s] * sub;
    imin += mn[s] * (xb.bsums[2 * s] + xb.bsums[2 * s + 1]);
  }
  return half_to_float(d) * xb.d * static_cast<float>(isum) - half_to_float(dmin) * xb.d * static_cast<float>(imin);
}

}  // namespace

void dot_f32(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  const float* wr = static_cast<const float*>(w);
  for_each_row<float>(x, x_stride, nx, out, [&](const float* xr) {
    float acc = 0.0f;
    for (int64_t i = 0; i < n; ++i) acc += wr[i] * xr[i];
    return acc;
  });
}

void dot_f16(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  const uint16_t* wr = static_cast<const uint16_t*>(w);
  for_each_row<float>(x, x_stride, nx, out, [&](const float* xr) {
    float acc = 0.0f;
    for (int64_t i = 0; i < n; ++i) acc += half_to_float(wr[i]) * xr[i];
    return acc;
  });
}

void dot_bf16(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  const uint16_t* wr = static_cast<const uint16_t*>(w);
  for_each_row<float>(x, x_stride, nx, out, [&](const float* xr) {
    float acc = 0.0f;
    for (int64_t i = 0; i < n; ++i) acc += bfloat_to_float(wr[i]) * xr[i];
    return acc;
  });
}

void dot_q4_0(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  const BlockQ4_0* wb = static_cast<const BlockQ4_0*>(w);
  const int64_t nb = n / kQK4_0;
  for_each_row<BlockQ8_0>(x, x_stride, nx, out, [&](const BlockQ8_0* xb) {
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      int32_t isum = 0;
      for (int l = 0; l < 16; ++l) {
        isum += ((wb[b].qs[l] & 0xF) - 8) * xb[b].qs[l];
        isum += ((wb[b].qs[l] >> 4) - 8) * xb[b].qs[l + 16];
      }
      acc += half_to_float(wb[b].d) * half_to_float(xb[b].d) * static_cast<float>(isum);
    }
    return acc;
  });
}

void dot_q8_0(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  const BlockQ8_0* wb = static_cast<const BlockQ8_0*>(w);
  const int64_t nb = n / kQK8_0;
  for_each_row<BlockQ8_0>(x, x_stride, nx, out, [&](const BlockQ8_0* xb) {
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      int32_t isum = 0;
      for (int l = 0; l < kQK8_0; ++l) isum += wb[b].qs[l] * xb[b].qs[l];
      acc += half_to_float(wb[b].d) * half_to_float(xb[b].d) * static_cast<float>(isum);
    }
    return acc;
  });
}

void dot_q4_K(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  const BlockQ4_K* wb = static_cast<const BlockQ4_K*>(w);
  const int64_t nb = n / kQK_K;
  for_each_row<BlockQ8_K>(x, x_stride, nx, out, [&](const BlockQ8_K* xb) {
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* qs = wb[b].qs;
      acc += k_superblock_dot(wb[b].d, wb[b].dmin, wb[b].scales, xb[b], [qs](int k, int l) {
        return l < 32 ? qs[32 * k + l] & 0xF : qs[32 * k + l - 32] >> 4;
      });
    }
    return acc;
  });
}

void dot_q5_K(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  const BlockQ5_K* wb = static_cast<const BlockQ5_K*>(w);
  const int64_t nb = n / kQK_K;
  for_each_row<BlockQ8_K>(x, x_stride, nx, out, [&](const BlockQ8_K* xb) {
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* qs = wb[b].qs;
      const uint8_t* qh = wb[b].qh;
      acc += k_superblock_dot(wb[b].d, wb[b].dmin, wb[b].scales, xb[b], [qs, qh](int k, int l) {
        const int low = l < 32 ? qs[32 * k + l] & 0xF : qs[32 * k + l - 32] >> 4;
        const int bit = l < 32 ? (qh[l] >> (2 * k)) & 1 : (qh[l - 32] >> (2 * k + 1)) & 1;
        return low | (bit << 4);
      });
    }
    return acc;
  });
}

// Q6_K: each half of 128 elements has 64 bytes of ql, 32 of qh and 8 scales; for l in [0, 32)
// the four elements l, l+32, l+64, l+96 take low nibbles of ql[l], ql[l+32], high nibbles of
// ql[l], ql[l+32], and bit pairs 0-1, 2-3, 4-5, 6-7 of qh[l]. Sub-blocks are 16 elements.
void dot_q6_K(const void* w, const void* x, size_t x_stride, int nx, int64_t n, float* out) {
  const BlockQ6_K* wb = static_cast<const BlockQ6_K*>(w);
  const int64_t nb = n / kQK_K;
  for_each_row<BlockQ8_K>(x, x_stride, nx, out, [&](const BlockQ8_K* xb) {
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      int32_t isum = 0;
      for (int h = 0; h < 2; ++h) {
        const uint8_t* ql = wb[b].ql + 64 * h;
        const uint8_t* qh = wb[b].qh + 32 * h;
        const int8_t* sc = wb[b].scales + 8 * h;
        const int8_t* xq = xb[b].qs + 128 * h;
        for (int g = 0; g < 4; ++g) {
          for (int sub = 0; sub < 2; ++sub) {
            int32_t s = 0;
            for (int l = 16 * sub; l < 16 * sub + 16; ++l) {
              const int lo4 = (g < 2) ? (ql[l + 32 * g] & 0xF) : (ql[l + 32 * (g - 2)] >> 4);
              const int hi2 = (qh[l] >> (2 * g)) & 3;
              s += ((lo4 | (hi2 << 4)) - 32) * xq[32 * g + l];
            }
            isum += sc[2 * g + sub] * s;
          }
        }
      }
      acc += half_to_float(wb[b].d) * xb[b].d * static_cast<float>(isum);
    }
    return acc;
  });
}

}  // namespace hearth::kernels::cpu::portable
