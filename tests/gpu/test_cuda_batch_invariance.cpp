// Label gpu: batch invariance of the decode-sized kernels (issue 6, speculative decoding): an
// output row must be bit for bit the same whatever the number of rows in the pass and wherever
// the row sits in it, so that greedy output with speculation (verify passes of k + 1 rows) equals
// plain decoding (passes of 1 row) on CUDA. Checked for
//  - quant_matvec, m = 1 .. 64, every quantized weight type and F16, on odd and model-like shapes
//    (every k_split of the tensor-core kernel, quant_matvec_mma.cuh, rows not a multiple of 16,
//    16-byte and 2-byte weight copies), with the rows in order and reversed;
//  - paged attention with fixed split ranges (PagedAttentionShape::split_positions, the decode
//    path of the backend): each token alone vs in a batch of 64 tokens of several sequences and
//    verify runs of consecutive tokens, and vs a larger split count (more empty splits);
//  - rms_norm_q8 / residual_rms_norm_q8: one row alone vs in a batch, in both int8 forms.
// Fresh random inputs each run (the seed is printed). Reports SKIP without a CUDA device. The
// products are also checked against a float64 reference, loosely (test_cuda_quant_matmul checks
// the bounds), so a kernel that is invariant because it is broken fails too.
#include <QTest>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/common/dtype.h"
#include "kernels/cpu/quant.h"
#include "kernels/cuda/paged_attention.h"
#include "kernels/cuda/quant_matmul.h"
#include "kernels/cuda/rms_norm.h"

namespace kcu = hearth::kernels::cuda;
using hearth::DType;
using hearth::kernels::cpu::fp32_to_fp16;

namespace {

// A device array that frees itself; copies to and from host vectors.
template <typename T>
class Dev {
 public:
  explicit Dev(size_t n) : n_(n) {
    void* p = nullptr;
    if (cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T)) == cudaSuccess) p_ = static_cast<T*>(p);
  }
  explicit Dev(const std::vector<T>& v) : Dev(v.size()) {
    if (p_ && cudaMemcpy(p_, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice) != cudaSuccess) p_ = nullptr;
  }
  ~Dev() {
    if (p_) cudaFree(p_);
  }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  T* get() const { return p_; }
  std::vector<T> take() const {
    std::vector<T> v(n_);
    if (cudaMemcpy(v.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost) != cudaSuccess) v.clear();
    return v;
  }
  bool poison() { return cudaMemset(p_, 0xFF, std::max<size_t>(n_, 1) * sizeof(T)) == cudaSuccess; }  // NaN floats

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

bool have_device() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

std::vector<float> random_floats(std::mt19937_64& rng, size_t n, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

bool same_bits(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

}  // namespace

class TestCudaBatchInvariance : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    if (!have_device()) QSKIP("no CUDA device");
    seed_ = std::random_device{}();
    qInfo("seed %llu", static_cast<unsigned long long>(seed_));
    rng_.seed(seed_);
  }

  void matvec_rows_do_not_depend_on_m() {
    struct Shape {
      int64_t rows, cols;
    };
    for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::F16}) {
      for (const Shape sh : {Shape{37, 256}, Shape{300, 768}, Shape{2048, 2048}, Shape{1024, 4096}, Shape{5000, 512},
                               Shape{32800, 256}}) {
        run_matvec_case(t, sh.rows, sh.cols);
        if (QTest::currentTestFailed()) return;
      }
    }
  }

  void attention_tokens_do_not_depend_on_batch() {
    struct Case {
      int64_t n_head, n_kv_head, head_dim;
    };
    for (const Case c : {Case{32, 8, 64}, Case{32, 8, 128}, Case{28, 4, 128}, Case{12, 4, 80}}) {
      for (int64_t split_positions : {64, 128}) {
        run_attention_case(c.n_head, c.n_kv_head, c.head_dim, split_positions);
        if (QTest::currentTestFailed()) return;
      }
    }
  }

  void norm_rows_do_not_depend_on_batch() {
    for (int64_t n : {64, 2048, 4096, 5120, 12288}) {
     for (kcu::Q8Form form : {kcu::Q8Form::kBlock32, kcu::Q8Form::kSuper256}) {
      if (form == kcu::Q8Form::kSuper256 && n % 256 != 0) continue;
      const int64_t rows = 16;
      const auto x = random_floats(rng_, rows * n, 2.0f), d = random_floats(rng_, rows * n), w = random_floats(rng_, n);
      const size_t q8_bytes = kcu::q8_input_bytes(rows, n);
      // All rows at once, then each row alone (fresh copies: the residual form updates x).
      Dev<float> dx(x), dd(d), dw(w), dy(rows * n);
      Dev<uint8_t> q8(q8_bytes);
      QVERIFY(dy.poison());
      QCOMPARE(kcu::residual_rms_norm_q8(dx.get(), dd.get(), dw.get(), dy.get(), rows, n, 1e-5f, q8.get(), nullptr, form),
               cudaSuccess);
      const auto all_y = dy.take(), all_x = dx.take();
      for (int64_t r = 0; r < rows; r += 5) {
        std::vector<float> xr(x.begin() + r * n, x.begin() + (r + 1) * n), dr(d.begin() + r * n, d.begin() + (r + 1) * n);
        Dev<float> ax(xr), ad(dr), ay(n);
        Dev<uint8_t> aq(kcu::q8_input_bytes(1, n));
        QVERIFY(ay.poison());
        QCOMPARE(kcu::residual_rms_norm_q8(ax.get(), ad.get(), dw.get(), ay.get(), 1, n, 1e-5f, aq.get(), nullptr, form),
                 cudaSuccess);
        const auto one_y = ay.take(), one_x = ax.take();
        QVERIFY2(one_y.size() == size_t(n) && same_bits(one_y.data(), all_y.data() + r * n, n),
                 qPrintable(QString("rms_norm n %1: row %2 differs alone").arg(n).arg(r)));
        QVERIFY(same_bits(one_x.data(), all_x.data() + r * n, n));
      }
     }
    }
  }

 private:
  void run_matvec_case(DType t, int64_t rows, int64_t cols) {
    const uint64_t rb = *hearth::row_bytes(t, static_cast<uint64_t>(cols));
    std::vector<uint8_t> bytes(rb * rows);
    std::vector<double> values(static_cast<size_t>(rows * cols));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> src(cols), back(cols);
    for (int64_t r = 0; r < rows; ++r) {
      for (auto& v : src) v = normal(rng_);
      QCOMPARE(hearth::kernels::cpu::quantize_row(t, src.data(), bytes.data() + r * rb, cols),
               hearth::kernels::KernelStatus::kOk);
      QCOMPARE(hearth::kernels::cpu::dequantize_row(t, bytes.data() + r * rb, back.data(), cols),
               hearth::kernels::KernelStatus::kOk);
      std::copy(back.begin(), back.end(), values.begin() + r * cols);
    }
    constexpr int64_t kM = kcu::kMaxMatvecRows;
    const auto x = random_floats(rng_, kM * cols);
    std::vector<float> x_rev(x.size());
    for (int64_t j = 0; j < kM; ++j) std::copy_n(x.begin() + j * cols, cols, x_rev.begin() + (kM - 1 - j) * cols);
    Dev<uint8_t> dw(bytes);
    Dev<float> dx(x), dxr(x_rev), dy(kM * rows);
    const kcu::QuantWeights w{t, dw.get(), rows, cols, false};
    Dev<uint8_t> ws(std::max<size_t>(kcu::matvec_workspace_bytes(w, kM), 16));
    auto product = [&](const Dev<float>& in, int64_t m) {
      if (!dy.poison()) return std::vector<float>{};
      if (kcu::quant_matvec(w, in.get(), m, dy.get(), ws.get(), nullptr) != cudaSuccess) return std::vector<float>{};
      auto y = dy.take();
      y.resize(static_cast<size_t>(m * rows));
      return y;
    };
    const auto type_name = hearth::dtype_name(t);
    const QString what =
        QString("%1 %2x%3").arg(QString::fromUtf8(type_name.data(), int(type_name.size()))).arg(rows).arg(cols);
    // m = 1: each activation row alone is the reference; sanity-checked against float64.
    std::vector<float> single(static_cast<size_t>(kM * rows));
    for (int64_t j = 0; j < kM; ++j) {
      Dev<float> xj(std::vector<float>(x.begin() + j * cols, x.begin() + (j + 1) * cols));
      const auto y = product(xj, 1);
      QVERIFY2(y.size() == size_t(rows), qPrintable(what + ": launch failed"));
      std::copy(y.begin(), y.end(), single.begin() + j * rows);
    }
    for (int64_t i = 0; i < rows; i += 7) {
      double ref = 0.0, mag = 0.0;
      for (int64_t c = 0; c < cols; ++c) {
        ref += values[i * cols + c] * x[c];
        mag += std::abs(values[i * cols + c] * x[c]);
      }
      QVERIFY2(std::abs(single[i] - ref) <= 0.02 * mag + 1e-4,
               qPrintable(what + QString(": row %1 = %2, float64 %3").arg(i).arg(single[i]).arg(ref)));
    }
    for (int64_t m = 2; m <= kM; ++m) {
      const auto y = product(dx, m);
      QVERIFY2(y.size() == size_t(m * rows), qPrintable(what + ": launch failed"));
      for (int64_t j = 0; j < m; ++j) {
        QVERIFY2(same_bits(y.data() + j * rows, single.data() + j * rows, rows),
                 qPrintable(what + QString(": row %1 of m = %2 differs from m = 1").arg(j).arg(m)));
      }
    }
    const auto yr = product(dxr, kM);
    QVERIFY2(yr.size() == size_t(kM * rows), qPrintable(what + ": launch failed"));
    for (int64_t j = 0; j < kM; ++j) {
      QVERIFY2(same_bits(yr.data() + (kM - 1 - j) * rows, single.data() + j * rows, rows),
               qPrintable(what + QString(": row %1 differs when placed at %2").arg(j).arg(kM - 1 - j)));
    }
  }

  // A batch of 64 tokens (the backend's largest decode-sized pass): four decode sequences and
  // verify runs of 5, 40, 12 and 4 consecutive tokens of four others.
  void run_attention_case(int64_t n_head, int64_t n_kv_head, int64_t hd, int64_t split_positions) {
    const int64_t n_layer = 2, layer = 1, bt = 16, max_blocks = 64;
    struct Seq {
      int64_t n_past, n_new;
    };
    const std::vector<Seq> seqs = {{700, 1}, {5, 1}, {300, 5}, {129, 1}, {200, 40}, {50, 12}, {10, 4}};
    std::vector<int32_t> positions, offsets, tables(seqs.size() * max_blocks, 0);
    int32_t next_block = 0;
    for (size_t s = 0; s < seqs.size(); ++s) {
      const int64_t blocks = (seqs[s].n_past + seqs[s].n_new + bt - 1) / bt;
      for (int64_t b = 0; b < blocks; ++b) tables[s * max_blocks + b] = next_block++;
      for (int64_t i = 0; i < seqs[s].n_new; ++i) {
        positions.push_back(int32_t(seqs[s].n_past + i));
        offsets.push_back(int32_t(s * max_blocks));
      }
    }
    std::shuffle(tables.begin(), tables.end(), rng_);  // blocks anywhere in the pool (ids stay distinct)
    const kcu::PagedKvLayout kv{n_layer, n_kv_head, hd, bt};
    const int64_t n_blocks = int64_t(tables.size());
    std::vector<uint16_t> pool(static_cast<size_t>(n_blocks * kv.block_elements()));
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (auto& v : pool) v = fp32_to_fp16(nd(rng_));
    const int64_t n = int64_t(positions.size());
    const auto q = random_floats(rng_, n * n_head * hd, 0.6f);
    Dev<uint16_t> dpool(pool);
    Dev<int32_t> dtab(tables);
    const int64_t longest = 1 + *std::max_element(positions.begin(), positions.end());
    const int needed = int((longest + split_positions - 1) / split_positions);

    // One workspace for every launch, zeroed once (paged_attention.h): the merge counters must be
    // left at zero by each launch for the next to be right.
    size_t ws_bytes = 1;
    for (int splits : {needed, needed + 7}) {
      kcu::PagedAttentionShape big;
      big.n_tokens = n;
      big.n_head = n_head;
      big.kv = kv;
      big.n_splits = splits;
      big.split_positions = split_positions;
      ws_bytes = std::max(ws_bytes, kcu::paged_attention_workspace_bytes(big));
    }
    Dev<uint8_t> ws(ws_bytes);
    QCOMPARE(cudaMemset(ws.get(), 0, ws_bytes), cudaSuccess);
    auto attend = [&](int64_t first, int64_t count, int n_splits) {
      kcu::PagedAttentionShape s;
      s.n_tokens = count;
      s.n_head = n_head;
      s.layer = layer;
      s.kv = kv;
      s.scale = float(1.0 / std::sqrt(double(hd)));
      s.n_splits = n_splits;
      s.split_positions = split_positions;
      Dev<float> dq(std::vector<float>(q.begin() + first * n_head * hd, q.begin() + (first + count) * n_head * hd));
      Dev<int32_t> dpos(std::vector<int32_t>(positions.begin() + first, positions.begin() + first + count));
      Dev<int32_t> doff(std::vector<int32_t>(offsets.begin() + first, offsets.begin() + first + count));
      Dev<float> dout(count * n_head * hd);
      if (kcu::paged_attention_workspace_bytes(s) > ws_bytes || !dout.poison()) return std::vector<float>{};
      if (kcu::paged_attention(dq.get(), dpool.get(), dpos.get(), doff.get(), dtab.get(), dout.get(), ws.get(), s,
                               nullptr) != cudaSuccess) {
        return std::vector<float>{};
      }
      return dout.take();
    };
    const QString what = QString("heads %1/%2 hd %3 split %4").arg(n_head).arg(n_kv_head).arg(hd).arg(split_positions);
    const auto all = attend(0, n, needed);
    const auto all_more = attend(0, n, needed + 7);
    QVERIFY2(all.size() == size_t(n * n_head * hd) && all_more.size() == all.size(), qPrintable(what + ": launch failed"));
    for (float v : all) QVERIFY2(std::isfinite(v), qPrintable(what + ": non-finite output"));
    QVERIFY2(same_bits(all.data(), all_more.data(), all.size()), qPrintable(what + ": depends on the split count"));
    const size_t row = size_t(n_head * hd);
    for (int64_t t = 0; t < n; ++t) {
      const int own = int((positions[t] + split_positions) / split_positions);  // just enough for this token
      const auto one = attend(t, 1, own);
      QVERIFY2(one.size() == row && same_bits(one.data(), all.data() + t * row, row),
               qPrintable(what + QString(": token %1 alone differs from the batch").arg(t)));
    }
    // The verify run's last 3 tokens as a pass of their own.
    const auto tail = attend(n - 3, 3, needed);
    QVERIFY2(tail.size() == 3 * row && same_bits(tail.data(), all.data() + (n - 3) * row, 3 * row),
             qPrintable(what + ": verify rows differ as a smaller pass"));
  }

  unsigned long long seed_ = 0;
  std::mt19937_64 rng_;
};

QTEST_APPLESS_MAIN(TestCudaBatchInvariance)
#include "test_cuda_batch_invariance.moc"
