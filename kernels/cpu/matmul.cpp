// Matmul: converts the activations once, then splits the weight rows across the pool.
//
// Work is counted in items of kInterleaveRows (8) consecutive rows of one target: a group of a
// kInterleaved8 matrix (one group-kernel call per activation group) or 8 rows of a row-major
// one (one row-kernel call per row; also the rows after an interleaved matrix's last group).
// Loop nest per thread (its contiguous share of items):
//   for each item tile (about kWeightTileBytes of weights, so it stays in L2)
//     for each group of up to kMaxDotRows activation rows
//       for each item of the tile: kernel calls -> y[group rows, the item's rows]
// With m <= kMaxDotRows (decode, small batches) this is one pass over the weights, each row
// loaded from memory once and unpacked once for all activation rows. With large m (prefill) the
// tile is re-read from L2 for every activation group instead of from memory.
#include <algorithm>
#include <optional>

#include "kernels/cpu/activation_quant.h"
#include "kernels/cpu/dot_avx2.h"
#include "kernels/cpu/dot_interleaved.h"
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

// The group kernel of an interleaved weight type at a SIMD level, or null if the type has none.
GroupDotFn select_group_kernel(DType wt, SimdLevel level) {
#if HEARTH_HAVE_AVX2_KERNELS
  if (level == SimdLevel::kAvx2Vnni) {
    switch (wt) {
      case DType::Q4_0: return avx2_vnni::dot_q4_0_x8;
      case DType::Q4_K: return avx2_vnni::dot_q4_K_x8;
      case DType::Q6_K: return avx2_vnni::dot_q6_K_x8;
      default: return nullptr;
    }
  }
  if (level >= SimdLevel::kAvx2) {
    switch (wt) {
      case DType::Q4_0: return avx2::dot_q4_0_x8;
      case DType::Q4_K: return avx2::dot_q4_K_x8;
      case DType::Q6_K: return avx2::dot_q6_K_x8;
      default: return nullptr;
    }
  }
#endif
  switch (wt) {
    case DType::Q4_0: return portable::dot_q4_0_x8;
    case DType::Q4_K: return portable::dot_q4_K_x8;
    case DType::Q6_K: return portable::dot_q6_K_x8;
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
  // Per target: its kernels, row bytes and first item in the combined item space.
  struct Prepared {
    RowDotFn dot;
    GroupDotFn group_dot;  // kInterleaved8 only
    size_t w_stride;
    int64_t first_item;
    int64_t n_items;      // ceil(n_rows / 8)
    int64_t full_groups;  // items run by group_dot (0 for row-major)
    int64_t tile_items;
  };
  std::vector<Prepared> prepared;
  prepared.reserve(targets.size());
  const DType format = activation_format(targets[0].type);
  int64_t total_items = 0;
  for (const auto& t : targets) {
    if (!is_known_dtype(t.type)) return KernelStatus::kUnsupportedType;
    const RowDotFn dot = select_kernel(t.type, level);
    if (dot == nullptr) return KernelStatus::kUnsupportedType;
    GroupDotFn group_dot = nullptr;
    if (t.layout == WeightLayout::kInterleaved8) {
      group_dot = select_group_kernel(t.type, level);
      if (group_dot == nullptr) return KernelStatus::kUnsupportedType;
    } else if (t.layout != WeightLayout::kRowMajor) {
      return KernelStatus::kUnsupportedType;
    }
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
    const int64_t item_bytes = kInterleaveRows * static_cast<int64_t>(*w_row_bytes);
    const int64_t n_items = (t.n_rows + kInterleaveRows - 1) / kInterleaveRows;
    const int64_t full_groups = group_dot ? t.n_rows / kInterleaveRows : 0;
    const int64_t tile_items = std::max<int64_t>(1, kWeightTileBytes / item_bytes);
    prepared.push_back({dot, group_dot, static_cast<size_t>(*w_row_bytes), total_items, n_items, full_groups, tile_items});
    total_items += n_items;
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

  // One pass over the combined items of all targets; each thread's share may span targets.
  pool_.parallel_for(total_items, [&](int64_t begin, int64_t end, int) {
    float out[kMaxDotRows * kInterleaveRows];
    for (size_t t = 0; t < targets.size(); ++t) {
      const Prepared& p = prepared[t];
      const int64_t lo = std::max(begin, p.first_item) - p.first_item;
      const int64_t hi = std::min(end, p.first_item + p.n_items) - p.first_item;
      if (lo >= hi) continue;
      const uint8_t* weights = static_cast<const uint8_t*>(targets[t].w);
      float* y = targets[t].y;
      const int64_t n_rows = targets[t].n_rows;
      for (int64_t i0 = lo; i0 < hi; i0 += p.tile_items) {
        const int64_t i1 = std::min(hi, i0 + p.tile_items);
        for (int64_t j0 = 0; j0 < m; j0 += kMaxDotRows) {
          const int nx = static_cast<int>(std::min<int64_t>(kMaxDotRows, m - j0));
          const uint8_t* x_group = acts + static_cast<size_t>(j0) * act_stride;
          for (int64_t i = i0; i < i1; ++i) {
            const int64_t r0 = i * kInterleaveRows;
            if (i < p.full_groups) {
              p.group_dot(weights + static_cast<size_t>(r0) * p.w_stride, x_group, act_stride, nx, n_cols, out);
              for (int j = 0; j < nx; ++j) {
                float* y_row = y + (j0 + j) * n_rows + r0;
                for (int r = 0; r < kInterleaveRows; ++r) y_row[r] = out[kInterleaveRows * j + r];
              }
              continue;
            }
            const int64_t r1 = std::min(n_rows, r0 + kInterleaveRows);
            for (int64_t r = r0; r < r1; ++r) {
              p.dot(weights + static_cast<size_t>(r) * p.w_stride, x_group, act_stride, nx, n_cols, out);
              for (int j = 0; j < nx; ++j) y[(j0 + j) * n_rows + r] = out[j];
            }
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
