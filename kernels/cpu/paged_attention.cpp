#include "kernels/cpu/paged_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cpu/matmul.h"

namespace hearth::kernels::cpu {

namespace {

// Tokens of one sequence scored together in one work unit: enough rows to reuse each K/V block
// from L1 many times, few enough to keep the (sequence, kv head, chunk) units plentiful.
constexpr int64_t kTokensPerUnit = 8;

// Vectors of W floats through GCC/Clang vector extensions. The same code is compiled twice:
// W = 4 for any CPU (SSE on x86-64) and W = 8 inside a function built for AVX2 + FMA, chosen at
// run time. Loads and stores go through memcpy (no alignment assumed); helpers are always
// inlined so that vectors never cross a call (no ABI dependence on the instruction set).
template <int W>
struct Vec {
  typedef float Type __attribute__((vector_size(W * sizeof(float))));
};

#define HEARTH_INLINE inline __attribute__((always_inline))

template <int W>
HEARTH_INLINE float dot(const float* a, const float* b, int64_t n) {
  using V = typename Vec<W>::Type;
  V s0 = {}, s1 = {}, x, y, z, w;
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    std::memcpy(&x, a + i, sizeof x);
    std::memcpy(&y, b + i, sizeof y);
    std::memcpy(&z, a + i + W, sizeof z);
    std::memcpy(&w, b + i + W, sizeof w);
    s0 += x * y;
    s1 += z * w;
  }
  for (; i + W <= n; i += W) {
    std::memcpy(&x, a + i, sizeof x);
    std::memcpy(&y, b + i, sizeof y);
    s0 += x * y;
  }
  s0 += s1;
  float s = 0;
  for (int j = 0; j < W; ++j) s += s0[j];
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// y = y * c + p * x, n floats.
template <int W>
HEARTH_INLINE void scale_add(float* y, float c, float p, const float* x, int64_t n) {
  using V = typename Vec<W>::Type;
  V a, b;
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    std::memcpy(&a, y + i, sizeof a);
    std::memcpy(&b, x + i, sizeof b);
    a = a * c + b * p;
    std::memcpy(y + i, &a, sizeof a);
  }
  for (; i < n; ++i) y[i] = y[i] * c + x[i] * p;
}

// y += p * x, n floats.
template <int W>
HEARTH_INLINE void add_scaled(float* y, float p, const float* x, int64_t n) {
  using V = typename Vec<W>::Type;
  V a, b;
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    std::memcpy(&a, y + i, sizeof a);
    std::memcpy(&b, x + i, sizeof b);
    a += b * p;
    std::memcpy(y + i, &a, sizeof a);
  }
  for (; i < n; ++i) y[i] += x[i] * p;
}

// Online-softmax state of the unit's query rows: row r = (token - t0) * group + g.
struct UnitScratch {
  std::vector<float> max, sum, acc, scores;
};

// Tokens [t0, t1) of `seq`, query heads of kv head `kv_head`.
template <int W>
HEARTH_INLINE void attend_unit(const PagedKvLayer& kv, const PagedAttentionShape& s, const PagedAttentionSequence& seq,
                               int64_t kv_head, int64_t t0, int64_t t1, UnitScratch& scratch) {
  const int64_t group = s.n_head / s.n_head_kv;
  const int64_t d = s.head_dim;
  const int64_t bt = kv.block_tokens;
  const int64_t rows = (t1 - t0) * group;
  scratch.max.assign(static_cast<size_t>(rows), -std::numeric_limits<float>::infinity());
  scratch.sum.assign(static_cast<size_t>(rows), 0.0f);
  scratch.acc.assign(static_cast<size_t>(rows * d), 0.0f);
  scratch.scores.resize(static_cast<size_t>(bt));
  float* scores = scratch.scores.data();

  const int64_t end = seq.n_past + t1;  // positions the last token of the unit sees
  const int64_t n_blocks = (end + bt - 1) / bt;
  const int64_t head_offset = kv_head * bt * d;
  for (int64_t bi = 0; bi < n_blocks; ++bi) {
    const int64_t p0 = bi * bt;
    const float* block = kv.pool + static_cast<int64_t>(seq.block_table[bi]) * kv.block_stride;
    const float* k = block + kv.k_offset + head_offset;  // [bt, d]
    const float* v = block + kv.v_offset + head_offset;  // [bt, d]
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t visible = std::min(bt, seq.n_past + t + 1 - p0);  // causal: positions <= n_past + t
      if (visible <= 0) continue;
      for (int64_t g = 0; g < group; ++g) {
        const int64_t r = (t - t0) * group + g;
        const float* q = seq.q + (t * s.n_head + kv_head * group + g) * d;
        float tile_max = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < visible; ++j) {
          scores[j] = dot<W>(q, k + j * d, d) * s.scale;
          tile_max = std::max(tile_max, scores[j]);
        }
        float& m = scratch.max[r];
        float& l = scratch.sum[r];
        float* acc = scratch.acc.data() + r * d;
        // The first position of the tile also applies the rescaling of the running sums.
        if (tile_max > m) {
          const float correction = std::exp(m - tile_max);  // 0 on the first block (m = -inf)
          const float p = std::exp(scores[0] - tile_max);
          scale_add<W>(acc, correction, p, v, d);
          l = l * correction + p;
          m = tile_max;
        } else {
          const float p = std::exp(scores[0] - m);
          add_scaled<W>(acc, p, v, d);
          l += p;
        }
        for (int64_t j = 1; j < visible; ++j) {
          const float p = std::exp(scores[j] - m);
          add_scaled<W>(acc, p, v + j * d, d);
          l += p;
        }
      }
    }
  }
  for (int64_t t = t0; t < t1; ++t) {
    for (int64_t g = 0; g < group; ++g) {
      const int64_t r = (t - t0) * group + g;
      const float inv = 1.0f / scratch.sum[r];
      const float* acc = scratch.acc.data() + r * d;
      float* o = seq.out + (t * s.n_head + kv_head * group + g) * d;
      for (int64_t i = 0; i < d; ++i) o[i] = acc[i] * inv;
    }
  }
}

void attend_unit_portable(const PagedKvLayer& kv, const PagedAttentionShape& s, const PagedAttentionSequence& seq,
                          int64_t kv_head, int64_t t0, int64_t t1, UnitScratch& scratch) {
  attend_unit<4>(kv, s, seq, kv_head, t0, t1, scratch);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HEARTH_PAGED_ATTENTION_AVX2 1
__attribute__((target("avx2,fma"))) void attend_unit_avx2(const PagedKvLayer& kv, const PagedAttentionShape& s,
                                                           const PagedAttentionSequence& seq, int64_t kv_head,
                                                           int64_t t0, int64_t t1, UnitScratch& scratch) {
  attend_unit<8>(kv, s, seq, kv_head, t0, t1, scratch);
}
#else
#define HEARTH_PAGED_ATTENTION_AVX2 0
#endif

}  // namespace

KernelStatus paged_attention(const PagedKvLayer& kv, const PagedAttentionShape& s,
                             std::span<const PagedAttentionSequence> sequences, ThreadPool& pool, SimdLevel level) {
  [[maybe_unused]] const bool avx2 = level != SimdLevel::kPortable;
  if (s.n_head <= 0 || s.n_head_kv <= 0 || s.n_head % s.n_head_kv != 0 || s.head_dim <= 0 ||
      kv.block_tokens <= 0 || kv.pool == nullptr) {
    return KernelStatus::kBadSize;
  }
  // first_unit[i]: index of sequence i's first work unit; units of a sequence are
  // (kv head, token chunk) with the chunk varying fastest.
  std::vector<int64_t> first_unit(sequences.size() + 1, 0);
  for (size_t i = 0; i < sequences.size(); ++i) {
    const auto& seq = sequences[i];
    if (seq.n_tokens < 0 || seq.n_past < 0) return KernelStatus::kBadSize;
    const int64_t chunks = (seq.n_tokens + kTokensPerUnit - 1) / kTokensPerUnit;
    first_unit[i + 1] = first_unit[i] + chunks * s.n_head_kv;
  }
  const int64_t units = first_unit.back();
  if (units == 0) return KernelStatus::kOk;
  pool.parallel_for(units, [&](int64_t begin, int64_t end, int) {
    UnitScratch scratch;
    for (int64_t u = begin; u < end; ++u) {
      const auto it = std::upper_bound(first_unit.begin(), first_unit.end(), u) - 1;
      const auto& seq = sequences[static_cast<size_t>(it - first_unit.begin())];
      const int64_t local = u - *it;
      const int64_t chunks = (seq.n_tokens + kTokensPerUnit - 1) / kTokensPerUnit;
      const int64_t kv_head = local / chunks;
      const int64_t t0 = (local % chunks) * kTokensPerUnit;
      const int64_t t1 = std::min(seq.n_tokens, t0 + kTokensPerUnit);
#if HEARTH_PAGED_ATTENTION_AVX2
      if (avx2) {
        attend_unit_avx2(kv, s, seq, kv_head, t0, t1, scratch);
        continue;
      }
#endif
      attend_unit_portable(kv, s, seq, kv_head, t0, t1, scratch);
    }
  });
  return KernelStatus::kOk;
}

}  // namespace hearth::kernels::cpu
