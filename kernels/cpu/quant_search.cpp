// Scale searches shared by the quantizers; see quant_search.h for the method.
#include "kernels/cpu/quant_search.h"

#include <cmath>
#include <limits>

namespace hearth::kernels::cpu::detail {
namespace {

struct LevelSums {
  float wl = 0;   // sum w * l
  float wll = 0;  // sum w * l^2
  float wxl = 0;  // sum w * x * l
};

// Sums for the levels l_i = round(clamp((x_i - offset) * inv_scale, lo, hi)). Products go to
// arrays summed by tree_sum (see there why).
template <int N>
LevelSums level_sums(const float* x, const float* w, float offset, float inv_scale, float lo, float hi) {
  float wl[N], wll[N], wxl[N];
  for (int i = 0; i < N; ++i) {
    const float l = round_small(clamp_nan_to_lo((x[i] - offset) * inv_scale, lo, hi));
    wl[i] = w[i] * l;
    wll[i] = wl[i] * l;
    wxl[i] = wl[i] * x[i];
  }
  return {tree_sum<N>(wl), tree_sum<N>(wll), tree_sum<N>(wxl)};
}

// Running best of the asymmetric fit x ≈ a * l + b (b = -min <= 0). Float arithmetic: the
// error is a few 1e-3 of sum w x^2 or more at 4-5 bits, far above float rounding of the sums.
struct AffineBest {
  float sw, swx, swxx;  // fixed sums of the group: sum w, sum w x, sum w x^2
  float error = std::numeric_limits<float>::infinity();
  float a = 0, b = 0;

  // Least-squares (a, b) for the levels behind `s`, with b clamped to <= 0; keeps it if better.
  void consider(const LevelSums& s) {
    const float det = sw * s.wll - s.wl * s.wl;
    if (!(det > 0)) return;
    const float inv_det = 1 / det;
    float ca = (sw * s.wxl - swx * s.wl) * inv_det;
    float cb = (s.wll * swx - s.wl * s.wxl) * inv_det;
    if (cb > 0) {  // the format has no positive offset: refit the scale alone
      cb = 0;
      ca = s.wxl / s.wll;
    }
    if (!(ca > 0)) return;
    // sum w (x - a l - b)^2 expanded; exact for any (a, b) given the sums.
    const float err = swxx + ca * (ca * s.wll - 2 * s.wxl) + cb * (cb * sw - 2 * swx + 2 * ca * s.wl);
    if (err < error) {
      error = err;
      a = ca;
      b = cb;
    }
  }
};

}  // namespace

template <int N>
ScaleMin fit_scale_min(const float* x, const float* w, int nmax, SearchGrid grid) {
  float lo = x[0], hi = x[0];
  float sw = 0, swx = 0, swxx = 0;
  for (int i = 0; i < N; ++i) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
    sw += w[i];
    swx += w[i] * x[i];
    swxx += w[i] * x[i] * x[i];
  }
  lo = lo < 0 ? lo : 0;  // the offset can only move values down
  const float range = hi - lo;
  if (!(range > 0)) return {0, -lo};  // constant group <= 0: represented exactly by the offset

  // Plain min/max fit; also the answer when every weight is zero.
  const float fmax = static_cast<float>(nmax);
  AffineBest best{sw, swx, swxx};
  best.a = range / fmax;
  best.b = lo;
  if (!(sw > 0)) return {best.a, -best.b};

  for (int k = 0; k < grid.count; ++k) {
    const float inv_scale = (fmax + grid.first + grid.step * static_cast<float>(k)) / range;
    best.consider(level_sums<N>(x, w, lo, inv_scale, 0, fmax));
  }
  // Polish: levels nearest to the best fit itself, refit, keep if better.
  for (int iter = 0; iter < 2 && best.a > 0; ++iter) {
    const float before = best.error;
    best.consider(level_sums<N>(x, w, best.b, 1.0f / best.a, 0, fmax));
    if (!(best.error < before)) break;
  }
  return {best.a, -best.b};
}

template <int N>
float fit_symmetric_scale(const float* x, const float* w, int n_neg, int n_pos, SearchGrid grid) {
  float peak = 0, peak_abs = 0;  // the value of largest magnitude, with its sign
  for (int i = 0; i < N; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > peak_abs) {
      peak_abs = ax;
      peak = x[i];
    }
  }
  if (!(peak_abs > 0)) return 0;

  const float lo = static_cast<float>(-n_neg), hi = static_cast<float>(n_pos);
  float best_scale = peak / lo;  // the plain "largest magnitude to the end of the range" scale
  float best_score = -1;         // sum(w x l)^2 / sum(w l^2): larger means smaller error
  auto consider = [&](const LevelSums& s) {
    if (!(s.wll > 0)) return;
    const float score = s.wxl * s.wxl / s.wll;
    if (score > best_score) {
      best_score = score;
      best_scale = s.wxl / s.wll;
    }
  };
  for (int k = 0; k < grid.count; ++k) {
    const float inv_scale = (lo - grid.first - grid.step * static_cast<float>(k)) / peak;
    consider(level_sums<N>(x, w, 0, inv_scale, lo, hi));
  }
  if (best_scale != 0) consider(level_sums<N>(x, w, 0, 1.0f / best_scale, lo, hi));
  return best_scale;
}

template ScaleMin fit_scale_min<32>(const float*, const float*, int, SearchGrid);
template float fit_symmetric_scale<16>(const float*, const float*, int, int, SearchGrid);
template float fit_symmetric_scale<32>(const float*, const float*, int, int, SearchGrid);

}  // namespace hearth::kernels::cpu::detail
