#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace hearth::kernels::cpu {

namespace {

float dot(const float* a, const float* b, int64_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;  // 4 partial sums let the compiler vectorise
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

// One (token, kv head) unit: the group's query heads scored against every visible position.
void attend_group(const float* q, const float* k, const float* v, int64_t kv_stride, float* out,
                  const AttentionShape& s, int64_t t, int64_t kv_head, std::vector<float>& state) {
  const int64_t group = s.n_head / s.n_head_kv;
  const int64_t d = s.head_dim;
  // state: per head [max, sum, acc[d]]
  state.assign(static_cast<size_t>(group * (d + 2)), 0.0f);
  for (int64_t g = 0; g < group; ++g) state[g * (d + 2)] = -std::numeric_limits<float>::infinity();
  const int64_t n_visible = s.n_past + t + 1;
  const float* q_group = q + (t * s.n_head + kv_head * group) * d;
  for (int64_t j = 0; j < n_visible; ++j) {
    const float* k_row = k + j * kv_stride + kv_head * d;
    const float* v_row = v + j * kv_stride + kv_head * d;
    for (int64_t g = 0; g < group; ++g) {
      float* st = state.data() + g * (d + 2);
      const float score = dot(q_group + g * d, k_row, d) * s.scale;
      float& m = st[0];
      float& l = st[1];
      float* acc = st + 2;
      if (score > m) {
        const float correction = std::exp(m - score);  // exp(-inf) = 0 on the first position
        for (int64_t i = 0; i < d; ++i) acc[i] = acc[i] * correction + v_row[i];
        l = l * correction + 1.0f;
        m = score;
      } else {
        const float p = std::exp(score - m);
        for (int64_t i = 0; i < d; ++i) acc[i] += p * v_row[i];
        l += p;
      }
    }
  }
  for (int64_t g = 0; g < group; ++g) {
    const float* st = state.data() + g * (d + 2);
    float* o = out + (t * s.n_head + kv_head * group + g) * d;
    const float inv = 1.0f / st[1];
    for (int64_t i = 0; i < d; ++i) o[i] = st[2 + i] * inv;
  }
}

}  // namespace

void attention(const float* q, const float* k, const float* v, int64_t kv_stride, float* out,
               const AttentionShape& s, ThreadPool& pool) {
  const int64_t units = s.n_tokens * s.n_head_kv;
  pool.parallel_for(units, [&](int64_t begin, int64_t end, int) {
    std::vector<float> state;
    for (int64_t u = begin; u < end; ++u) {
      attend_group(q, k, v, kv_stride, out, s, u / s.n_head_kv, u % s.n_head_kv, state);
    }
  });
}

}  // namespace hearth::kernels::cpu
