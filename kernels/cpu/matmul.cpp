// Matmul: converts the activations once, then splits the weight rows across the pool.
//
// Loop nest per thread (its contiguous share of rows [begin, end)):
//   for each row tile (about kWeightTileBytes of weights, so it stays in L2)
//     for each group of up to kMaxDotRows activation rows
//       for each weight row of the tile: one kernel call -> y[group rows, that row]
// With m <= kMaxDotRows (decode, small batches) this is one pass over the weights, each row
// loaded from memory once and unpacked once for all activation rows. With large m (prefill) the
// tile is re-read from L2 for every activation group instead of from memory.
#include <algorithm>
#include <optional>

#include "kernels/cpu/activation_quant.h"
#include "kernels/cpu/dot_avx2.h"
#include "kernels/cpu/dot_portable.h"
#include "kernels/cpu/matmul.h"

namespace hearth::kernels::cpu {
namespace {

constexpr int64_t kWeightTileBytes = 256 * 1024;
// Below this many activation rows quantization runs on the calling thread (waking the pool
// costs more than quantizing a few rows).
constexpr int64_t kParallelQuantizeRows = 8;

// The kernel for a weight type at a SIMD level, or null if the type has none.
RowDotFn select_kernel(DType wt, SimdLevel level) {
#if HEARTH_HAVE_AVX2_KERNELS
  if (level == SimdLevel::kAvx2Vnni) {
    if (wt == DType::Q4_0) return avx2_vnni::dot_q4_0;
    if (wt == DType::Q8_0) return avx2_vnni::dot_q8_0;
  }
  if (level >= SimdLevel::kAvx2) {
    switch (wt) {
      case DType::F32: return avx2::dot_f32;
      case DType::F16: return avx2::dot_f16;
      case DType::BF16: return avx2::dot_bf16;
      case DType::Q4_0: return avx2::dot_q4_0;
      case DType::Q8_0: return avx2::dot_q8_0;
      case DType::Q4_K: return avx2::dot_q4_K;
      case DType::Q5_K: return avx2::dot_q5_K;
      case DType::Q6_K: return avx2::dot_q6_K;
      default: return nullptr;
    }
  }
#endif
  switch (wt) {
    case DType::F32: return portable::dot_f32;
    case DType::F16: return portable::dot_f16;
    case DType::BF16: return portable::dot_bf16;
    case DType::Q4_0: return portable::dot_q4_0;
    case DType::Q8_0: return portable::dot_q8_0;
    case DType::Q4_K: return portable::dot_q4_K;
    case DType::Q5_K: return portable::dot_q5_K;
    case DType::Q6_K: return portable::dot_q6_K;
    default: return nullptr;
  }
}

// A requested level is honoured only as far as the CPU has it (never execute unsupported code).
SimdLevel usable_level(SimdLevel requested) { return std::min(requested, detect_simd_level()); }

bool is_known_dtype(DType t) { return dtype_traits(static_cast<uint32_t>(t)).has_value(); }

// Bytes of one activation row in a kernel format, or nullopt if n is not whole blocks (or so
// large that no buffer could hold a row).
std::optional<uint64_t> activation_row_bytes(DType format, int64_t n) {
  if (n > (int64_t{1} << 40)) return std::nullopt;
  if (format == DType::Q8_0) {
    if (n % 32 != 0) return std::nullopt;
    return q8_0_activation_row(n).bytes;
  }
  return row_bytes(format, static_cast<uint64_t>(n));
}

// One activation row (n floats) into its format at dst.
void quantize_activation_row(DType format, const float* x, void* dst, int64_t n, SimdLevel level) {
  if (format == DType::Q8_0) {
    quantize_q8_0_activation_row(x, dst, n, level);
  } else {
    quantize_activations_q8_K(x, dst, n, level);
  }
}

}  // namespace

KernelStatus Matmul::run(DType wt, const void* w, int64_t n_rows, int64_t n_cols, const float* x, int64_t m,
                         float* y) {
  const MatmulTarget target{wt, w, n_rows, y};
  return run_shared({&target, 1}, n_cols, x, m);
}

KernelStatus Matmul::run_shared(std::span<const MatmulTarget> targets, int64_t n_cols, const float* x, int64_t m) {
  if (targets.empty()) return KernelStatus::kOk;
  const SimdLevel level = usable_level(level_);
  // Per target: its kernel, row bytes and first row in the combined row space.
  struct Prepared {
    RowDotFn dot;
    size_t w_stride;
    int64_t first_row;
    int64_t tile_rows;
  };
  std::vector<Prepared> prepared;
  prepared.reserve(targets.size());
  const DType format = activation_format(targets[0].type);
  int64_t total_rows = 0;
  for (const auto& t : targets) {
    if (!is_known_dtype(t.type)) return KernelStatus::kUnsupportedType;
    const RowDotFn dot = select_kernel(t.type, level);
    if (dot == nullptr) return KernelStatus::kUnsupportedType;
    if (t.n_rows <= 0 || n_cols <= 0 || m <= 0) return KernelStatus::kBadSize;
    const auto w_row_bytes = row_bytes(t.type, static_cast<uint64_t>(n_cols));
    if (!w_row_bytes) return KernelStatus::kBadSize;
    if (activation_format(t.type) != format) {
      // Different activation formats cannot share one conversion: one product at a time.
      for (const auto& each : targets) {
        const KernelStatus status = run_shared({&each, 1}, n_cols, x, m);
        if (status != KernelStatus::kOk) return status;
      }
      return KernelStatus::kOk;
    }
    const int64_t tile_rows = std::max<int64_t>(1, kWeightTileBytes / static_cast<int64_t>(*w_row_bytes));
    prepared.push_back({dot, static_cast<size_t>(*w_row_bytes), total_rows, tile_rows});
    total_rows += t.n_rows;
  }
  const auto x_row_bytes = activation_row_bytes(format, n_cols);
  if (!x_row_bytes) return KernelStatus::kBadSize;

  // Activations in the kernel's format: the caller's floats, or quantized rows in scratch_.
  const uint8_t* acts = reinterpret_cast<const uint8_t*>(x);
  const size_t act_stride = static_cast<size_t>(*x_row_bytes);
  if (format != DType::F32) {
    uint64_t total = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(m), *x_row_bytes, &total)) return KernelStatus::kBadSize;
    if (scratch_.size() < total) scratch_.resize(total);
    uint8_t* dst = scratch_.data();
    auto quantize_rows = [&](int64_t begin, int64_t end, int) {
      for (int64_t i = begin; i < end; ++i) {
        quantize_activation_row(format, x + i * n_cols, dst + static_cast<size_t>(i) * act_stride, n_cols, level);
      }
    };
    if (m >= kParallelQuantizeRows) {
      pool_.parallel_for(m, quantize_rows);
    } else {
      quantize_rows(0, m, 0);
    }
    acts = dst;
  }

  // One pass over the combined rows of all targets; each thread's share may span targets.
  pool_.parallel_for(total_rows, [&](int64_t begin, int64_t end, int) {
    float out[kMaxDotRows];
    for (size_t t = 0; t < targets.size(); ++t) {
      const Prepared& p = prepared[t];
      const int64_t lo = std::max(begin, p.first_row) - p.first_row;
      const int64_t hi = std::min(end, p.first_row + targets[t].n_rows) - p.first_row;
      if (lo >= hi) continue;
      const uint8_t* weights = static_cast<const uint8_t*>(targets[t].w);
      float* y = targets[t].y;
      const int64_t n_rows = targets[t].n_rows;
      for (int64_t r0 = lo; r0 < hi; r0 += p.tile_rows) {
        const int64_t r1 = std::min(hi, r0 + p.tile_rows);
        for (int64_t j0 = 0; j0 < m; j0 += kMaxDotRows) {
          const int nx = static_cast<int>(std::min<int64_t>(kMaxDotRows, m - j0));
          const uint8_t* x_group = acts + static_cast<size_t>(j0) * act_stride;
          for (int64_t r = r0; r < r1; ++r) {
            p.dot(weights + static_cast<size_t>(r) * p.w_stride, x_group, act_stride, nx, n_cols, out);
            for (int j = 0; j < nx; ++j) y[(j0 + j) * n_rows + r] = out[j];
          }
        }
      }
    }
  });
  return KernelStatus::kOk;
}

KernelStatus vec_dot(DType wt, const void* w_row, const float* x, int64_t n, float* out, SimdLevel level) {
  if (!is_known_dtype(wt)) return KernelStatus::kUnsupportedType;
  level = usable_level(level);
  const RowDotFn dot = select_kernel(wt, level);
  if (dot == nullptr) return KernelStatus::kUnsupportedType;
  if (n <= 0) return KernelStatus::kBadSize;
  const DType format = activation_format(wt);
  const auto x_row_bytes = activation_row_bytes(format, n);
  if (!row_bytes(wt, static_cast<uint64_t>(n)) || !x_row_bytes) return KernelStatus::kBadSize;
  if (format == DType::F32) {
    dot(w_row, x, *x_row_bytes, 1, n, out);
    return KernelStatus::kOk;
  }
  std::vector<uint8_t> quantized(*x_row_bytes);
  quantize_activation_row(format, x, quantized.data(), n, level);
  dot(w_row, quantized.data(), *x_row_bytes, 1, n, out);
  return KernelStatus::kOk;
}

}  // namespace hearth::kernels::cpu
