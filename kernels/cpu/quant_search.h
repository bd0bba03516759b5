#pragma once
// Scale searches of the quantizers (internal to kernels/cpu/quant*.cpp). For one small group of
// values x[0..N) with non-negative weights w, they find the grid step (and offset) that minimise
// sum_i w_i * (x_i - x̂_i)^2 where x̂_i is the nearest representable value.
//
// Method: try a fixed set of candidate step sizes around "range / levels"; for each, round
// every x to its level, then solve the weighted least-squares problem for (scale, offset) with
// those levels held fixed, and score the fit in closed form from the running sums (no second
// pass). The best candidate is then polished by re-rounding against its own least-squares fit.
#include <cmath>
#include <cstdint>

namespace hearth::kernels::cpu::detail {

// Clamps to [lo, hi]; a NaN becomes lo (so later integer conversions are always defined).
inline float clamp_nan_to_lo(float v, float lo, float hi) {
  v = v > lo ? v : lo;
  return v < hi ? v : hi;
}

// Round to nearest, ties to even, for |v| < 2^22 (every caller clamps first). Adding and
// subtracting 1.5 * 2^23 is exact in float32 and vectorizes, unlike std::nearbyint at -O2.
inline float round_small(float v) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  return (v + kMagic) - kMagic;
}

// x ≈ scale * q - min with integer q in [0, nmax], scale >= 0, min >= 0 (the K-quant form).
struct ScaleMin {
  float scale = 0;
  float min = 0;
};

// Candidate step sizes: the group's range (or largest magnitude) is spread over
// `levels + first + i * step` steps for i in [0, count).
struct SearchGrid {
  float first;
  float step;
  int count;
};

// Asymmetric fit for Q4_K (nmax 15) and Q5_K (nmax 31); N is the group size (32).
template <int N>
ScaleMin fit_scale_min(const float* x, const float* w, int nmax, SearchGrid grid);

// x ≈ scale * q with integer q in [-n_neg, n_pos] (n_neg = n_pos + 1 as in Q4_0 and Q6_K).
// The largest-magnitude value is mapped towards the longer, negative side, so `scale` has the
// opposite sign of that value. Returns 0 for an all-zero (or zero-weight) group.
template <int N>
float fit_symmetric_scale(const float* x, const float* w, int n_neg, int n_pos, SearchGrid grid);

// Sum of a[0..N) (N a power of two) by pairwise halving; overwrites a. Every halving is a loop
// of constant length, which vectorizes at -O2 and -O3 without -ffast-math; a running float sum
// does not (at -O3 GCC even makes it a slow in-order vector reduction).
template <int N>
float tree_sum(float* a) {
  static_assert(N > 0 && (N & (N - 1)) == 0);
  if constexpr (N == 1) {
    return a[0];
  } else {
    for (int i = 0; i < N / 2; ++i) a[i] += a[i + N / 2];
    return tree_sum<N / 2>(a);
  }
}

}  // namespace hearth::kernels::cpu::detail
