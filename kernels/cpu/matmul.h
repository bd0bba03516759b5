#pragma once
// Matrix products of float activations with weight rows stored in any supported type.
//   y[m, n_rows] = x[m, n_cols] · W[n_rows, n_cols]^T
// W is row-major: row r is row_bytes(wt, n_cols) bytes at (uint8_t*)w + r * row_bytes.
// Activations are converted once per call to the type the weight's dot product wants
// (Q8_0 for Q4_0/Q8_0, Q8_K for the K-quants, F32 for F32/F16/BF16), then rows of W are
// split across the pool's threads. The kernel variant (AVX2/FMA or portable) is chosen at run
// time from the CPU's features.
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/common/dtype.h"
#include "kernels/cpu/kernel_status.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/cpu/weight_layout.h"

namespace hearth::kernels::cpu {

// Ordered: each level includes the ones before it.
//   kAvx2:     AVX2 + FMA + F16C kernels.
//   kAvx2Vnni: the same, with the Q4_0 / Q8_0 byte dot products on AVX512-VNNI (+VL), one
//              vpdpbusd where AVX2 needs maddubs + madd.
enum class SimdLevel { kPortable, kAvx2, kAvx2Vnni };
const char* simd_level_name(SimdLevel level);

// What this CPU supports (AVX2 + FMA + F16C), and an override for tests and benchmarks.
SimdLevel detect_simd_level();

// One product of a matrix sharing its activations with others: y[m, n_rows] = x · W^T.
// `layout` says how W's bytes are arranged (weight_layout.h); kInterleaved8 exists for the
// types supports_interleaved() accepts, at every SIMD level.
struct MatmulTarget {
  DType type;
  const void* w;
  int64_t n_rows;
  float* y;
  WeightLayout layout = WeightLayout::kRowMajor;
};

class Matmul {
 public:
  explicit Matmul(ThreadPool& pool, SimdLevel level = detect_simd_level()) : pool_(pool), level_(level) {}

  KernelStatus run(DType wt, const void* w, int64_t n_rows, int64_t n_cols, const float* x, int64_t m, float* y);
  // Several products of the same activations x[m, n_cols] (Q, K and V; gate and up): x is
  // converted once and the rows of all the matrices are split across the pool in one pass.
  KernelStatus run_shared(std::span<const MatmulTarget> targets, int64_t n_cols, const float* x, int64_t m);

  SimdLevel level() const { return level_; }
  ThreadPool& pool() { return pool_; }

 private:
  ThreadPool& pool_;
  SimdLevel level_;
  std::vector<uint8_t> scratch_;  // quantized activations, reused between calls
};

// Dot product of one stored row with float activations, n elements (a whole number of blocks),
// computed in float32 via the matmul kernels' path; for tests of single rows.
KernelStatus vec_dot(DType wt, const void* w_row, const float* x, int64_t n, float* out,
                     SimdLevel level = detect_simd_level());

}  // namespace hearth::kernels::cpu
