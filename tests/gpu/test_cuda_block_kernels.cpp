// Label gpu: the CUDA transformer-block kernels (RMSNorm, RoPE + paged KV write, SwiGLU, paged
// attention) against float64 host references on many shapes, fresh random inputs each run (the
// seed is printed), output buffers poisoned with NaN before each launch. Reports SKIP without a
// CUDA device.
#include <QTest>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cpu/quant.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/paged_attention.h"
#include "kernels/cuda/rms_norm.h"
#include "kernels/cuda/rope_kv_write.h"
#include "kernels/cuda/swiglu.h"

namespace kcu = hearth::kernels::cuda;
using hearth::kernels::cpu::fp16_to_fp32;
using hearth::kernels::cpu::fp32_to_fp16;

namespace {

constexpr uint16_t kHalfNaN = 0x7e00;

// A device array that frees itself; copies to and from host vectors.
template <typename T>
class Dev {
 public:
  explicit Dev(size_t n) : n_(n) {
    void* p = nullptr;
    if (cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T)) == cudaSuccess) p_ = static_cast<T*>(p);
  }
  explicit Dev(const std::vector<T>& v) : Dev(v.size()) { put(v); }
  ~Dev() {
    if (p_) cudaFree(p_);
  }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  T* get() const { return p_; }
  void put(const std::vector<T>& v) { QCOMPARE(cudaMemcpy(p_, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess); }
  std::vector<T> take() const {
    std::vector<T> v(n_);
    if (cudaMemcpy(v.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost) != cudaSuccess) v.clear();
    return v;
  }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

std::vector<float> random_floats(std::mt19937_64& rng, size_t n, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<float> nan_floats(size_t n) { return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN()); }

// Largest |a - b| / (|b| + floor); NaN anywhere gives +inf.
double max_rel_error(const std::vector<float>& a, const std::vector<double>& b, double floor) {
  if (a.size() != b.size()) return INFINITY;
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    worst = std::max(worst, std::abs(double(a[i]) - b[i]) / (std::abs(b[i]) + floor));
  }
  return worst;
}

bool have_device() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

// One sequence of a paged-attention / rope test batch.
struct TestSeq {
  int64_t n_past = 0, n_new = 0;
  std::vector<int32_t> table;
};

}  // namespace

class TestCudaBlockKernels : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    if (!have_device()) QSKIP("no CUDA device");
    seed_ = std::random_device{}();
    qInfo("seed %llu", static_cast<unsigned long long>(seed_));
    rng_.seed(seed_);
  }

  void rms_norm_matches_float64() {
    for (int64_t n : {1, 7, 64, 257, 1000, 4096}) {
      for (int64_t rows : {1, 3, 17}) {
        const auto x = random_floats(rng_, rows * n, 3.0f);
        const auto w = random_floats(rng_, n);
        std::vector<int32_t> index(rows);
        for (auto& i : index) i = int32_t(rng_() % rows);
        std::vector<double> ref(rows * n), ref_gather(rows * n);
        auto norm_row = [&](int64_t in_row, double* out) {
          double ss = 0;
          for (int64_t i = 0; i < n; ++i) ss += double(x[in_row * n + i]) * x[in_row * n + i];
          const double s = 1.0 / std::sqrt(ss / n + 1e-5);
          for (int64_t i = 0; i < n; ++i) out[i] = x[in_row * n + i] * s * w[i];
        };
        for (int64_t r = 0; r < rows; ++r) {
          norm_row(r, &ref[r * n]);
          norm_row(index[r], &ref_gather[r * n]);
        }
        Dev<float> dx(x), dw(w), dy(nan_floats(rows * n)), dg(nan_floats(rows * n));
        Dev<int32_t> di(index);
        QCOMPARE(kcu::rms_norm(dx.get(), dw.get(), dy.get(), rows, n, 1e-5f, nullptr), cudaSuccess);
        QCOMPARE(kcu::rms_norm(dx.get(), dw.get(), dg.get(), rows, n, 1e-5f, nullptr, di.get()), cudaSuccess);
        QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
        const double e1 = max_rel_error(dy.take(), ref, 1e-3), e2 = max_rel_error(dg.take(), ref_gather, 1e-3);
        QVERIFY2(e1 < 1e-5 && e2 < 1e-5, qPrintable(QString("rows %1 n %2: errors %3 %4").arg(rows).arg(n).arg(e1).arg(e2)));
      }
    }
  }

  void residual_rms_norm_matches_float64() {
    for (int64_t n : {5, 128, 2049}) {
      const int64_t rows = 4;
      const auto x = random_floats(rng_, rows * n), d = random_floats(rng_, rows * n), w = random_floats(rng_, n);
      std::vector<double> ref_x(rows * n), ref_y(rows * n);
      for (int64_t r = 0; r < rows; ++r) {
        double ss = 0;
        for (int64_t i = 0; i < n; ++i) {
          ref_x[r * n + i] = double(x[r * n + i]) + d[r * n + i];
          ss += ref_x[r * n + i] * ref_x[r * n + i];
        }
        const double s = 1.0 / std::sqrt(ss / n + 1e-6);
        for (int64_t i = 0; i < n; ++i) ref_y[r * n + i] = ref_x[r * n + i] * s * w[i];
      }
      Dev<float> dx(x), dd(d), dw(w), dy(nan_floats(rows * n));
      QCOMPARE(kcu::residual_rms_norm(dx.get(), dd.get(), dw.get(), dy.get(), rows, n, 1e-6f, nullptr), cudaSuccess);
      QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
      QVERIFY(max_rel_error(dx.take(), ref_x, 1e-3) < 1e-6);
      QVERIFY(max_rel_error(dy.take(), ref_y, 1e-3) < 1e-5);
      // In place over the delta buffer, as the backend uses it.
      Dev<float> dx2(x), dd2(d);
      QCOMPARE(kcu::residual_rms_norm(dx2.get(), dd2.get(), dw.get(), dd2.get(), rows, n, 1e-6f, nullptr), cudaSuccess);
      QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
      QVERIFY(max_rel_error(dd2.take(), ref_y, 1e-3) < 1e-5);
    }
  }

  void swiglu_and_adds_match_float64() {
    for (int64_t n : {1, 31, 1000, 100003}) {
      const auto g = random_floats(rng_, n, 4.0f), u = random_floats(rng_, n);
      std::vector<double> ref(n), ref_add(n);
      for (int64_t i = 0; i < n; ++i) {
        ref[i] = double(g[i]) / (1.0 + std::exp(-double(g[i]))) * u[i];
        ref_add[i] = double(g[i]) + u[i];
      }
      Dev<float> dg(g), du(u), da(g);
      QCOMPARE(kcu::silu_mul(dg.get(), du.get(), n, nullptr), cudaSuccess);
      QCOMPARE(kcu::add_inplace(da.get(), du.get(), n, nullptr), cudaSuccess);
      QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
      QVERIFY2(max_rel_error(dg.take(), ref, 1e-3) < 1e-5, qPrintable(QString("silu n %1").arg(n)));
      QVERIFY(max_rel_error(da.take(), ref_add, 1e-3) < 1e-6);
    }
    for (int64_t rows : {1, 5}) {
      const int64_t ff = 77;
      const auto gu = random_floats(rng_, rows * 2 * ff, 3.0f);
      std::vector<double> ref(rows * ff);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < ff; ++i) {
          const double a = gu[r * 2 * ff + i];
          ref[r * ff + i] = a / (1.0 + std::exp(-a)) * gu[r * 2 * ff + ff + i];
        }
      Dev<float> dgu(gu), dout(nan_floats(rows * ff));
      QCOMPARE(kcu::silu_mul_halves(dgu.get(), dout.get(), rows, ff, nullptr), cudaSuccess);
      // Columns 10 .. 10 + 33 of the same [rows, 2 ff] matrix.
      Dev<float> dcol(nan_floats(rows * 33));
      QCOMPARE(kcu::copy_columns(dgu.get(), rows, 2 * ff, 10, 33, dcol.get(), nullptr), cudaSuccess);
      QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
      QVERIFY2(max_rel_error(dout.take(), ref, 1e-3) < 1e-5, "silu_mul_halves");
      std::vector<double> cols(rows * 33);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < 33; ++i) cols[r * 33 + i] = gu[r * 2 * ff + 10 + i];
      QVERIFY2(max_rel_error(dcol.take(), cols, 1e-3) == 0.0, "copy_columns");
    }
    const int64_t rows = 3, n = 37;
    const auto y = random_floats(rng_, rows * n), b = random_floats(rng_, n);
    std::vector<double> ref(rows * n);
    for (int64_t i = 0; i < rows * n; ++i) ref[i] = double(y[i]) + b[i % n];
    Dev<float> dy(y), db(b);
    QCOMPARE(kcu::add_bias_rows(dy.get(), db.get(), rows, n, nullptr), cudaSuccess);
    QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
    QVERIFY(max_rel_error(dy.take(), ref, 1e-3) < 1e-6);
  }

  // RoPE of q in place and of k on its way into the pool; v copied; every other pool element untouched.
  void rope_kv_write_matches_float64() {
    struct Case {
      int64_t n_head, n_kv_head, head_dim, rope_dims, block_tokens;
      bool halves;
    };
    for (const Case c : {Case{4, 2, 8, 8, 16, false}, Case{6, 3, 64, 64, 16, true}, Case{5, 5, 80, 32, 8, false},
                         Case{8, 1, 128, 96, 16, true}}) {
      const int64_t n_layer = 3, layer = int64_t(rng_() % n_layer), n_ctx = 100, half = c.rope_dims / 2;
      hearth::kernels::cuda::PagedKvLayout kv{n_layer, c.n_kv_head, c.head_dim, c.block_tokens};
      const std::vector<TestSeq> seqs = make_seqs({{5, 3}, {0, 7}, {37, 1}}, c.block_tokens, 16);
      std::vector<int32_t> positions, offsets, tables;
      build_batch(seqs, 16, positions, offsets, tables);
      const int64_t n = int64_t(positions.size()), hd = c.head_dim;
      std::vector<float> cs(n_ctx * half * 2);
      for (int64_t p = 0; p < n_ctx; ++p) {
        for (int64_t i = 0; i < half; ++i) {
          const double a = p * std::pow(10000.0, -2.0 * i / c.rope_dims);
          cs[(p * half + i) * 2] = float(std::cos(a));
          cs[(p * half + i) * 2 + 1] = float(std::sin(a));
        }
      }
      const auto q = random_floats(rng_, n * c.n_head * hd), k = random_floats(rng_, n * c.n_kv_head * hd),
                 v = random_floats(rng_, n * c.n_kv_head * hd);
      auto rotate = [&](const float* x, int64_t pos, double* out) {  // one head, float64
        for (int64_t d = 0; d < hd; ++d) out[d] = x[d];
        for (int64_t i = 0; i < half; ++i) {
          const int64_t a = c.halves ? i : 2 * i, b = c.halves ? i + half : 2 * i + 1;
          const double co = cs[(pos * half + i) * 2], si = cs[(pos * half + i) * 2 + 1];
          out[a] = x[a] * co - x[b] * si;
          out[b] = x[a] * si + x[b] * co;
        }
      };
      std::vector<double> ref_q(q.size());
      for (int64_t t = 0; t < n; ++t)
        for (int64_t h = 0; h < c.n_head; ++h) rotate(&q[(t * c.n_head + h) * hd], positions[t], &ref_q[(t * c.n_head + h) * hd]);

      const int64_t n_blocks = 16;
      std::vector<uint16_t> pool(n_blocks * kv.block_elements(), kHalfNaN);
      Dev<float> dq(q), dk(k), dv(v), dcs(cs);
      Dev<int32_t> dpos(positions), doff(offsets), dtab(tables);
      Dev<uint16_t> dpool(pool);
      kcu::RopeKvShape s;
      s.n_tokens = n;
      s.n_head = c.n_head;
      s.rope_dims = c.rope_dims;
      s.halves = c.halves;
      s.layer = layer;
      s.kv = kv;
      QCOMPARE(kcu::rope_kv_write(dq.get(), dk.get(), dv.get(), dcs.get(), dpos.get(), doff.get(), dtab.get(), dpool.get(), s,
                                  nullptr),
               cudaSuccess);
      QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
      QVERIFY2(max_rel_error(dq.take(), ref_q, 1e-2) < 1e-5, "rotated q");
      const auto got = dpool.take();
      // Expected pool: NaN except the written rows.
      std::vector<char> written(got.size(), 0);
      double worst = 0.0;
      for (int64_t t = 0; t < n; ++t) {
        const int64_t pos = positions[t];
        const int64_t block = tables[offsets[t] + pos / c.block_tokens], row = pos % c.block_tokens;
        for (int64_t h = 0; h < c.n_kv_head; ++h) {
          std::vector<double> rk(hd);
          rotate(&k[(t * c.n_kv_head + h) * hd], pos, rk.data());
          for (int64_t d = 0; d < hd; ++d) {
            const int64_t ko = block * kv.block_elements() + kv.kv_offset(layer, 0, h) + row * hd + d;
            const int64_t vo = block * kv.block_elements() + kv.kv_offset(layer, 1, h) + row * hd + d;
            written[ko] = written[vo] = 1;
            worst = std::max(worst, std::abs(fp16_to_fp32(got[ko]) - rk[d]) / (std::abs(rk[d]) + 1e-2));
            worst = std::max(worst, std::abs(double(fp16_to_fp32(got[vo])) - v[(t * c.n_kv_head + h) * hd + d]) /
                                        (std::abs(v[(t * c.n_kv_head + h) * hd + d]) + 1e-2));
          }
        }
      }
      QVERIFY2(worst < 1e-3, qPrintable(QString("K/V in the pool: relative error %1").arg(worst)));
      for (size_t i = 0; i < got.size(); ++i) {
        if (!written[i] && got[i] != kHalfNaN) QFAIL(qPrintable(QString("pool element %1 written but not expected").arg(i)));
      }
    }
  }

  // Attention over a pool filled with random F16 K/V, vs float64 softmax(q.k * scale) . v, for odd
  // head counts, GQA groups, head sizes, lengths and split counts.
  void paged_attention_matches_float64() {
    struct Case {
      int64_t n_head, n_kv_head, head_dim, block_tokens;
    };
    const std::vector<std::vector<std::pair<int64_t, int64_t>>> batches = {
        {{0, 1}},                             // first token of a sequence
        {{300, 1}, {17, 1}, {1000, 1}},       // decode of three sequences
        {{0, 70}},                            // prefill with causal masking across tiles
        {{33, 5}, {0, 3}, {129, 2}},          // mixed
    };
    for (const Case c : {Case{1, 1, 8, 16}, Case{8, 4, 8, 16}, Case{6, 2, 64, 16}, Case{9, 3, 80, 8},
                         Case{32, 8, 128, 16}, Case{7, 1, 64, 16}, Case{16, 2, 256, 16}}) {
      for (const auto& batch : batches) {
        for (int n_splits : {1, 3, 8}) {
          run_attention_case(c.n_head, c.n_kv_head, c.head_dim, c.block_tokens, batch, n_splits, 0);
          if (QTest::currentTestFailed()) return;
        }
        // Fixed split ranges (the decode path; head_dim 64 / 128 take the decode kernel), with
        // just enough splits and with extra empty ones.
        int64_t longest = 0;
        for (const auto& [past, n_new] : batch) longest = std::max(longest, past + n_new);
        for (int64_t split_positions : {16, 64, 200}) {
          const int needed = int((longest + split_positions - 1) / split_positions);
          for (int n_splits : {needed, needed + 5}) {
            run_attention_case(c.n_head, c.n_kv_head, c.head_dim, c.block_tokens, batch, n_splits, split_positions);
            if (QTest::currentTestFailed()) return;
          }
        }
      }
    }
  }

 private:
  // Sequences with random, distinct physical blocks out of a pool of n_blocks.
  std::vector<TestSeq> make_seqs(const std::vector<std::pair<int64_t, int64_t>>& shape, int64_t block_tokens,
                                 int64_t n_blocks) {
    std::vector<int32_t> free(n_blocks);
    std::iota(free.begin(), free.end(), 0);
    std::shuffle(free.begin(), free.end(), rng_);
    std::vector<TestSeq> seqs;
    size_t next = 0;
    for (const auto& [past, n_new] : shape) {
      TestSeq s{past, n_new, {}};
      const int64_t blocks = (past + n_new + block_tokens - 1) / block_tokens;
      for (int64_t b = 0; b < blocks; ++b) s.table.push_back(free.at(next++));
      seqs.push_back(s);
    }
    return seqs;
  }

  void build_batch(const std::vector<TestSeq>& seqs, int64_t max_blocks, std::vector<int32_t>& positions,
                   std::vector<int32_t>& offsets, std::vector<int32_t>& tables) {
    tables.assign(seqs.size() * max_blocks, -1);
    for (size_t s = 0; s < seqs.size(); ++s) {
      std::copy(seqs[s].table.begin(), seqs[s].table.end(), tables.begin() + s * max_blocks);
      for (int64_t i = 0; i < seqs[s].n_new; ++i) {
        positions.push_back(int32_t(seqs[s].n_past + i));
        offsets.push_back(int32_t(s * max_blocks));
      }
    }
  }

  void run_attention_case(int64_t n_head, int64_t n_kv_head, int64_t hd, int64_t bt,
                          const std::vector<std::pair<int64_t, int64_t>>& shape, int n_splits,
                          int64_t split_positions) {
    const int64_t n_layer = 2, layer = int64_t(rng_() % n_layer);
    int64_t blocks_needed = 0;
    for (const auto& [p, n] : shape) blocks_needed += (p + n + bt - 1) / bt;
    const int64_t n_blocks = blocks_needed + 3, max_blocks = 128;
    const auto seqs = make_seqs(shape, bt, n_blocks);
    std::vector<int32_t> positions, offsets, tables;
    build_batch(seqs, max_blocks, positions, offsets, tables);
    const int64_t n = int64_t(positions.size()), G = n_head / n_kv_head;
    kcu::PagedKvLayout kv{n_layer, n_kv_head, hd, bt};
    std::vector<uint16_t> pool(n_blocks * kv.block_elements());
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (auto& x : pool) x = fp32_to_fp16(nd(rng_));
    const auto q = random_floats(rng_, n * n_head * hd, 0.6f);
    const double scale = 1.0 / std::sqrt(double(hd));

    std::vector<double> ref(n * n_head * hd);
    for (int64_t t = 0; t < n; ++t) {
      const auto& table = std::vector<int32_t>(tables.begin() + offsets[t], tables.begin() + offsets[t] + max_blocks);
      const int64_t len = positions[t] + 1;
      for (int64_t h = 0; h < n_head; ++h) {
        const int64_t kvh = h / G;
        std::vector<double> sc(len);
        double m = -INFINITY;
        for (int64_t j = 0; j < len; ++j) {
          const int64_t base = table[j / bt] * kv.block_elements() + kv.kv_offset(layer, 0, kvh) + (j % bt) * hd;
          double dot = 0;
          for (int64_t d = 0; d < hd; ++d) dot += double(q[(t * n_head + h) * hd + d]) * fp16_to_fp32(pool[base + d]);
          sc[j] = dot * scale;
          m = std::max(m, sc[j]);
        }
        double l = 0;
        for (auto& x : sc) l += (x = std::exp(x - m));
        for (int64_t d = 0; d < hd; ++d) {
          double a = 0;
          for (int64_t j = 0; j < len; ++j) {
            const int64_t base = table[j / bt] * kv.block_elements() + kv.kv_offset(layer, 1, kvh) + (j % bt) * hd;
            a += sc[j] * fp16_to_fp32(pool[base + d]);
          }
          ref[(t * n_head + h) * hd + d] = a / l;
        }
      }
    }
    kcu::PagedAttentionShape s;
    s.n_tokens = n;
    s.n_head = n_head;
    s.layer = layer;
    s.kv = kv;
    s.scale = float(scale);
    s.n_splits = n_splits;
    s.split_positions = split_positions;
    Dev<float> dq(q), dout(nan_floats(ref.size()));
    Dev<uint16_t> dpool(pool);
    Dev<int32_t> dpos(positions), doff(offsets), dtab(tables);
    Dev<uint8_t> ws(std::max<size_t>(kcu::paged_attention_workspace_bytes(s), 1));
    QCOMPARE(cudaMemset(ws.get(), 0, std::max<size_t>(kcu::paged_attention_workspace_bytes(s), 1)), cudaSuccess);
    const cudaError_t e =
        kcu::paged_attention(dq.get(), dpool.get(), dpos.get(), doff.get(), dtab.get(), dout.get(), ws.get(), s, nullptr);
    QCOMPARE(e, cudaSuccess);
    QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
    const auto got = dout.take();
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      if (!std::isfinite(got[i])) {
        worst = INFINITY;
        break;
      }
      worst = std::max(worst, std::abs(got[i] - ref[i]));
    }
    QVERIFY2(worst < 2e-4, qPrintable(QString("heads %1/%2 hd %3 bt %4 tokens %5 splits %6 (%8 positions): max abs "
                                              "error %7")
                                          .arg(n_head).arg(n_kv_head).arg(hd).arg(bt).arg(n).arg(n_splits).arg(worst)
                                          .arg(split_positions)));
  }

  unsigned long long seed_ = 0;
  std::mt19937_64 rng_;
};

QTEST_APPLESS_MAIN(TestCudaBlockKernels)
#include "test_cuda_block_kernels.moc"
