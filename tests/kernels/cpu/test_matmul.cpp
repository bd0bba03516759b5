// Tests of kernels/cpu/matmul.h: Matmul::run and vec_dot for every weight type, both SIMD
// levels, 1-3 threads and many shapes, against a float64 reference built from
// dequantize_row (kernels/cpu/quant.h, written independently of the dot kernels) applied to the
// weights and to quantize_row's activations. Also checks that the matmul's own activation
// quantizers produce exactly quantize_row's Q8_0 / Q8_K bytes.
// Inputs are fresh random each run; the seed is printed and can be fixed with HEARTH_TEST_SEED=<n>.
#include <QTest>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/common/dtype.h"
#include "kernels/cpu/activation_quant.h"
#include "kernels/cpu/dot_portable.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/quant_blocks.h"
#include "kernels/cpu/thread_pool.h"

using hearth::DType;
using hearth::kernels::KernelStatus;
using namespace hearth::kernels;
using namespace hearth::kernels::cpu;

namespace {

constexpr DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0,
                                  DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// Allowed |error| as a fraction of sum_i |w_i x_i| (for Q4_K / Q5_K: of sum of |d sc q x| +
// |dmin m x|). The kernels' float rounding (products of scales, int32 -> float, float sums of up
// to 2048 terms) measured at most ~0.13 of this over many seeds; one wrong element in a row of
// up to 2048 is ~1/2048 of the sum, about 250 times more.
constexpr double kRelTolerance = 2e-6;

uint64_t test_seed() {
  if (const char* env = std::getenv("HEARTH_TEST_SEED")) return std::strtoull(env, nullptr, 10);
  return std::random_device{}();
}

std::vector<SimdLevel> levels_to_test() {
  std::vector<SimdLevel> levels{SimdLevel::kPortable};
  if (detect_simd_level() >= SimdLevel::kAvx2) levels.push_back(SimdLevel::kAvx2);
  if (detect_simd_level() >= SimdLevel::kAvx2Vnni) levels.push_back(SimdLevel::kAvx2Vnni);
  return levels;
}

const char* level_name(SimdLevel l) { return simd_level_name(l); }

DType activation_type(DType wt) {
  switch (wt) {
    case DType::Q4_0:
    case DType::Q8_0: return DType::Q8_0;
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K: return DType::Q8_K;
    default: return DType::F32;
  }
}

size_t bytes_of_row(DType t, int64_t n) { return static_cast<size_t>(*hearth::row_bytes(t, static_cast<uint64_t>(n))); }

// Weight rows: even rows come from quantize_row of gaussian values (with an offset so the
// K-quant mins matter), odd rows are random bytes with sane scales, which reach extremes a
// quantizer rarely writes (q = -128 in Q8_0, 6-bit scales of 63, negative Q6_K scales).
std::vector<uint8_t> make_weights(DType t, int64_t n_rows, int64_t n_cols, std::mt19937_64& rng) {
  const size_t rb = bytes_of_row(t, n_cols);
  std::vector<uint8_t> w(rb * static_cast<size_t>(n_rows));
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(0.002f, 0.05f);
  std::vector<float> row(static_cast<size_t>(n_cols));
  for (int64_t r = 0; r < n_rows; ++r) {
    uint8_t* dst = w.data() + static_cast<size_t>(r) * rb;
    const bool random_bytes = (r % 2 == 1) && t != DType::F32 && t != DType::F16 && t != DType::BF16;
    if (!random_bytes) {
      const float offset = (r % 4 == 2) ? 0.7f : 0.0f;
      for (auto& v : row) v = gauss(rng) * 0.5f + offset;
      if (t == DType::F32) {
        std::memcpy(dst, row.data(), rb);
      } else {
        if (quantize_row(t, row.data(), dst, n_cols) != KernelStatus::kOk) qFatal("quantize_row failed");
      }
      continue;
    }
    for (size_t i = 0; i < rb; ++i) dst[i] = static_cast<uint8_t>(rng());
    const size_t block = traits(t).block_bytes;
    for (size_t off = 0; off < rb; off += block) {
      uint8_t* b = dst + off;
      const uint16_t d = fp32_to_fp16(uni(rng)), dmin = fp32_to_fp16(uni(rng));
      switch (t) {
        case DType::Q4_0:
        case DType::Q8_0: std::memcpy(b, &d, 2); break;  // d first
        case DType::Q4_K:
        case DType::Q5_K:
          std::memcpy(b, &d, 2);
          std::memcpy(b + 2, &dmin, 2);
          break;
        case DType::Q6_K: std::memcpy(b + offsetof(BlockQ6_K, d), &d, 2); break;
        default: break;
      }
    }
  }
  return w;
}

// Gaussian activations with per-row scales; row 1 (when present) is all zeros.
std::vector<float> make_activations(int64_t m, int64_t n_cols, std::mt19937_64& rng) {
  std::vector<float> x(static_cast<size_t>(m * n_cols));
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  for (int64_t j = 0; j < m; ++j) {
    const float scale = std::ldexp(1.0f, static_cast<int>(j % 7) - 3);
    for (int64_t i = 0; i < n_cols; ++i) x[j * n_cols + i] = j == 1 ? 0.0f : gauss(rng) * scale;
  }
  return x;
}

// The activations as the int8 kernels see them: quantize_row then dequantize_row (float64).
std::vector<double> reference_activations(DType wt, const float* x, int64_t m, int64_t n_cols) {
  const DType at = activation_type(wt);
  std::vector<double> out(static_cast<size_t>(m * n_cols));
  std::vector<float> deq(static_cast<size_t>(n_cols));
  std::vector<uint8_t> q(bytes_of_row(at, n_cols));
  for (int64_t j = 0; j < m; ++j) {
    const float* row = x + j * n_cols;
    if (at == DType::F32) {
      std::copy(row, row + n_cols, deq.begin());
    } else {
      if (quantize_row(at, row, q.data(), n_cols) != KernelStatus::kOk) qFatal("quantize_row failed");
      if (dequantize_row(at, q.data(), deq.data(), n_cols) != KernelStatus::kOk) qFatal("dequantize_row failed");
    }
    for (int64_t i = 0; i < n_cols; ++i) out[j * n_cols + i] = deq[i];
  }
  return out;
}

// Dequantized weight row and, per element, the magnitude of the terms the kernels add up: for
// Q4_K / Q5_K that is |d sc q| + |dmin m| (found by dequantizing with dmin's sign flipped,
// since d, dmin >= 0 here), otherwise |w|.
void reference_weight_row(DType t, const uint8_t* src, int64_t n, std::vector<double>& w, std::vector<double>& mag) {
  std::vector<float> f(static_cast<size_t>(n));
  if (dequantize_row(t, src, f.data(), n) != KernelStatus::kOk) qFatal("dequantize_row failed");
  w.assign(f.begin(), f.end());
  mag.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) mag[i] = std::fabs(w[i]);
  if (t != DType::Q4_K && t != DType::Q5_K) return;
  const size_t rb = bytes_of_row(t, n), block = traits(t).block_bytes;
  std::vector<uint8_t> flipped(src, src + rb);
  for (size_t off = 0; off < rb; off += block) flipped[off + 3] ^= 0x80;  // sign bit of dmin
  if (dequantize_row(t, flipped.data(), f.data(), n) != KernelStatus::kOk) qFatal("dequantize_row failed");
  for (int64_t i = 0; i < n; ++i) mag[i] = std::fabs(static_cast<double>(f[i]));
}

struct Reference {
  std::vector<double> y;      // [m, n_rows]
  std::vector<double> bound;  // [m, n_rows] allowed |error|
};

Reference reference_matmul(DType wt, const uint8_t* w, int64_t n_rows, int64_t n_cols, const float* x, int64_t m) {
  const std::vector<double> xd = reference_activations(wt, x, m, n_cols);
  const size_t rb = bytes_of_row(wt, n_cols);
  Reference ref{std::vector<double>(static_cast<size_t>(m * n_rows)), std::vector<double>(static_cast<size_t>(m * n_rows))};
  std::vector<double> wrow, mag;
  for (int64_t r = 0; r < n_rows; ++r) {
    reference_weight_row(wt, w + static_cast<size_t>(r) * rb, n_cols, wrow, mag);
    for (int64_t j = 0; j < m; ++j) {
      double sum = 0, size = 0;
      for (int64_t i = 0; i < n_cols; ++i) {
        sum += wrow[i] * xd[j * n_cols + i];
        size += mag[i] * std::fabs(xd[j * n_cols + i]);
      }
      ref.y[j * n_rows + r] = sum;
      ref.bound[j * n_rows + r] = kRelTolerance * size + 1e-30;
    }
  }
  return ref;
}

// Runs the matmul into a NaN-poisoned buffer with guard elements and checks every output.
bool check_matmul(DType wt, SimdLevel level, int threads, int64_t n_rows, int64_t n_cols, int64_t m,
                  std::mt19937_64& rng, std::string& failure, double* worst_ratio = nullptr) {
  const std::vector<uint8_t> w = make_weights(wt, n_rows, n_cols, rng);
  const std::vector<float> x = make_activations(m, n_cols, rng);
  const Reference ref = reference_matmul(wt, w.data(), n_rows, n_cols, x.data(), m);
  constexpr int64_t kGuard = 16;
  std::vector<float> y(static_cast<size_t>(m * n_rows + kGuard), std::numeric_limits<float>::quiet_NaN());
  ThreadPool pool(threads);
  Matmul mm(pool, level);
  const std::string where = std::string(dtype_name(wt)) + " " + level_name(level) + " threads=" +
                            std::to_string(threads) + " n_rows=" + std::to_string(n_rows) +
                            " n_cols=" + std::to_string(n_cols) + " m=" + std::to_string(m);
  const KernelStatus st = mm.run(wt, w.data(), n_rows, n_cols, x.data(), m, y.data());
  if (st != KernelStatus::kOk) {
    failure = where + ": status " + to_string(st);
    return false;
  }
  for (int64_t i = 0; i < m * n_rows; ++i) {
    const double err = std::fabs(static_cast<double>(y[i]) - ref.y[i]);
    if (worst_ratio != nullptr) *worst_ratio = std::max(*worst_ratio, err / ref.bound[i]);
    if (!(err <= ref.bound[i])) {
      failure = where + ": y[" + std::to_string(i / n_rows) + "," + std::to_string(i % n_rows) +
                "] = " + std::to_string(y[i]) + ", reference " + std::to_string(ref.y[i]) + ", bound " +
                std::to_string(ref.bound[i]);
      return false;
    }
  }
  for (int64_t i = m * n_rows; i < m * n_rows + kGuard; ++i) {
    if (!std::isnan(y[i])) {
      failure = where + ": wrote past the end of y";
      return false;
    }
  }
  return true;
}

}  // namespace

class TestMatmul : public QObject {
  Q_OBJECT

 private:
  uint64_t seed_ = 0;

 private slots:
  void initTestCase() {
    seed_ = test_seed();
    qInfo("seed %llu (set HEARTH_TEST_SEED to repeat)", static_cast<unsigned long long>(seed_));
    qInfo("detected SIMD level: %s", level_name(detect_simd_level()));
  }

  // Every type x both levels x n_rows {1,7,33,257} x m {1,2,3,8,17,64}; n_cols and the thread
  // count (1, 2, 3) rotate through their lists so each appears with every type.
  void matchesFloat64Reference() {
    std::mt19937_64 rng(seed_);
    const int64_t rows_list[] = {1, 7, 33, 257};
    const int64_t m_list[] = {1, 2, 3, 8, 17, 64};
    for (DType wt : kWeightTypes) {
      double worst = 0;  // largest error / bound seen, printed to show the margin
      const uint32_t block = traits(wt).block_elements;
      std::vector<int64_t> cols_list;
      if (block == 1) {
        cols_list = {1, 7, 32, 100, 257, 1024, 2048};
      } else {
        for (int64_t blocks : {1, 2, 3, 8, 5}) cols_list.push_back(blocks * block);
        cols_list.push_back(2048);
      }
      for (SimdLevel level : levels_to_test()) {
        int index = 0;
        for (int64_t n_rows : rows_list) {
          for (int64_t m : m_list) {
            const int64_t n_cols = cols_list[index % cols_list.size()];
            const int threads = 1 + index % 3;
            ++index;
            if (n_rows * m * n_cols > 257 * 64 * 1024) continue;  // keep the run short
            std::string failure;
            QVERIFY2(check_matmul(wt, level, threads, n_rows, n_cols, m, rng, failure, &worst), failure.c_str());
          }
        }
      }
      qInfo("%s: worst error / bound %.3f", std::string(dtype_name(wt)).c_str(), worst);
    }
  }

  // A larger decode-shaped and a prefill-shaped product (several row tiles per thread).
  void largeShapes() {
    std::mt19937_64 rng(seed_ + 1);
    for (DType wt : {DType::Q4_0, DType::Q4_K, DType::Q6_K, DType::F16}) {
      for (SimdLevel level : levels_to_test()) {
        if (level == SimdLevel::kPortable && wt != DType::Q4_0) continue;
        std::string failure;
        QVERIFY2(check_matmul(wt, level, 2, 1100, 2048, 1, rng, failure), failure.c_str());
        QVERIFY2(check_matmul(wt, level, 3, 300, 1024, 37, rng, failure), failure.c_str());
      }
    }
  }

  // The same Matmul reused across calls of different sizes (scratch grows and is reused).
  void reusesScratch() {
    std::mt19937_64 rng(seed_ + 2);
    ThreadPool pool(2);
    for (SimdLevel level : levels_to_test()) {
      Matmul mm(pool, level);
      for (auto [wt, n_cols, m] : {std::tuple{DType::Q4_K, 512, 9}, std::tuple{DType::Q4_0, 64, 1},
                                   std::tuple{DType::Q6_K, 1024, 3}, std::tuple{DType::Q8_0, 32, 20}}) {
        const int64_t n_rows = 19;
        const auto w = make_weights(wt, n_rows, n_cols, rng);
        const auto x = make_activations(m, n_cols, rng);
        const Reference ref = reference_matmul(wt, w.data(), n_rows, n_cols, x.data(), m);
        std::vector<float> y(static_cast<size_t>(m * n_rows), std::numeric_limits<float>::quiet_NaN());
        QCOMPARE(mm.run(wt, w.data(), n_rows, n_cols, x.data(), m, y.data()), KernelStatus::kOk);
        for (size_t i = 0; i < y.size(); ++i) QVERIFY(std::fabs(y[i] - ref.y[i]) <= ref.bound[i]);
      }
    }
  }

  void vecDotMatchesReference() {
    std::mt19937_64 rng(seed_ + 3);
    for (DType wt : kWeightTypes) {
      const int64_t n = traits(wt).block_elements == 1 ? 333 : 4 * 256;
      for (SimdLevel level : levels_to_test()) {
        const auto w = make_weights(wt, 2, n, rng);  // row 1 is random bytes for quantized types
        const auto x = make_activations(1, n, rng);
        const Reference ref = reference_matmul(wt, w.data(), 2, n, x.data(), 1);
        for (int r = 0; r < 2; ++r) {
          float out = std::numeric_limits<float>::quiet_NaN();
          QCOMPARE(vec_dot(wt, w.data() + r * bytes_of_row(wt, n), x.data(), n, &out, level), KernelStatus::kOk);
          QVERIFY2(std::fabs(out - ref.y[r]) <= ref.bound[r],
                   qPrintable(QString("%1 %2 row %3: %4 vs %5")
                                  .arg(dtype_name(wt).data())
                                  .arg(level_name(level))
                                  .arg(r)
                                  .arg(out)
                                  .arg(ref.y[r])));
        }
      }
    }
  }

  // The hot-path quantizers must write exactly what quantize_row writes, including ties
  // (values at k + 0.5 after scaling), zeros, tiny and huge magnitudes.
  void activationQuantMatchesQuantizeRow() {
    std::mt19937_64 rng(seed_ + 4);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    const int64_t n = 4096;
    for (int trial = 0; trial < 40; ++trial) {
      std::vector<float> x(n);
      const float scale = std::ldexp(1.0f, static_cast<int>(rng() % 60) - 30);
      for (auto& v : x) v = gauss(rng) * scale;
      if (trial % 4 == 1) {
        // Ties: a block whose largest magnitude is 127 scales by exactly 1 (Q8_0) or -1 (Q8_K).
        for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(static_cast<int>(rng() % 255) - 127) + 0.5f;
        for (int64_t i = 0; i < n; i += 32) x[i] = (i / 32) % 2 ? 127.0f : -127.0f;
      }
      if (trial % 4 == 2) {
        for (int64_t i = 0; i < 256; ++i) x[i] = 0.0f;  // an all-zero Q8_K block
        for (int64_t i = 300; i < 310; ++i) x[i] = -x[i - 10];  // equal magnitudes, both signs
      }
      for (DType at : {DType::Q8_0, DType::Q8_K}) {
        std::vector<uint8_t> expected(bytes_of_row(at, n)), got(expected.size());
        QCOMPARE(quantize_row(at, x.data(), expected.data(), n), KernelStatus::kOk);
        for (SimdLevel level : levels_to_test()) {
          std::fill(got.begin(), got.end(), uint8_t{0xCD});
          if (at == DType::Q8_0) {
            quantize_activations_q8_0(x.data(), got.data(), n, level);
          } else {
            quantize_activations_q8_K(x.data(), got.data(), n, level);
          }
          size_t first_diff = 0;
          while (first_diff < got.size() && got[first_diff] == expected[first_diff]) ++first_diff;
          QVERIFY2(first_diff == got.size(), qPrintable(QString("%1 %2 trial %3: first differing byte %4")
                                                            .arg(dtype_name(at).data())
                                                            .arg(level_name(level))
                                                            .arg(trial)
                                                            .arg(first_diff)));
        }
      }
    }
  }

  // The Q8_0 kernels' activation rows: quantize_row's blocks, then per block the scale as a
  // float and 8 * the sum of the quants (dot_portable.h, q8_0_activation_row).
  void q8_0ActivationRowLayout() {
    std::mt19937_64 rng(seed_ + 5);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    for (int64_t n : {32, 96, 2080}) {
      std::vector<float> x(static_cast<size_t>(n));
      for (auto& v : x) v = gauss(rng);
      std::vector<uint8_t> expected(bytes_of_row(DType::Q8_0, n));
      QCOMPARE(quantize_row(DType::Q8_0, x.data(), expected.data(), n), KernelStatus::kOk);
      const Q8_0ActivationRow layout = q8_0_activation_row(n);
      QVERIFY(layout.scales_offset >= expected.size() && layout.scales_offset % 4 == 0);
      for (SimdLevel level : levels_to_test()) {
        std::vector<uint8_t> row(layout.bytes, 0xCD);
        quantize_q8_0_activation_row(x.data(), row.data(), n, level);
        QVERIFY(std::equal(expected.begin(), expected.end(), row.begin()));
        for (int64_t b = 0; b < n / 32; ++b) {
          BlockQ8_0 blk;
          std::memcpy(&blk, expected.data() + b * sizeof blk, sizeof blk);
          int32_t sum = 0;
          for (int8_t q : blk.qs) sum += q;
          float scale;
          int32_t sum8;
          std::memcpy(&scale, row.data() + layout.scales_offset + 4 * b, 4);
          std::memcpy(&sum8, row.data() + layout.sums_offset + 4 * b, 4);
          QCOMPARE(scale, fp16_to_fp32(blk.d));
          QCOMPARE(sum8, 8 * sum);
        }
      }
    }
  }

  // run_shared (Q/K/V and gate/up in one pass) computes exactly what separate runs compute,
  // also when the matrices want different activation formats (then it falls back to one at a time).
  void sharedInputMatchesSeparateRuns() {
    std::mt19937_64 rng(seed_ + 99);
    const int64_t n_cols = 512;
    const std::vector<std::vector<DType>> mixes = {
        {DType::Q4_0, DType::Q4_0, DType::Q4_0}, {DType::Q4_K, DType::Q6_K}, {DType::Q4_K, DType::Q8_0, DType::F16}};
    for (const auto& mix : mixes) {
      for (int threads : {1, 2, 3}) {
        for (int64_t m : {1, 3, 9}) {
          ThreadPool pool(threads);
          Matmul mm(pool);
          const auto x = make_activations(m, n_cols, rng);
          std::vector<std::vector<uint8_t>> weights;
          std::vector<std::vector<float>> shared_out, separate_out;
          std::vector<MatmulTarget> targets;
          const int64_t rows[] = {37, 8, 200};
          for (size_t i = 0; i < mix.size(); ++i) {
            weights.push_back(make_weights(mix[i], rows[i], n_cols, rng));
            shared_out.emplace_back(size_t(m * rows[i]), std::numeric_limits<float>::quiet_NaN());
            separate_out.emplace_back(size_t(m * rows[i]), std::numeric_limits<float>::quiet_NaN());
          }
          for (size_t i = 0; i < mix.size(); ++i) targets.push_back({mix[i], weights[i].data(), rows[i], shared_out[i].data()});
          QCOMPARE(mm.run_shared(targets, n_cols, x.data(), m), KernelStatus::kOk);
          for (size_t i = 0; i < mix.size(); ++i) {
            QCOMPARE(mm.run(mix[i], weights[i].data(), rows[i], n_cols, x.data(), m, separate_out[i].data()), KernelStatus::kOk);
            QCOMPARE(shared_out[i], separate_out[i]);
          }
        }
      }
    }
  }

  void rejectsBadSizesAndTypes() {
    ThreadPool pool(2);
    std::vector<uint8_t> w(1 << 16);
    std::vector<float> x(4096), y(4096);
    for (SimdLevel level : levels_to_test()) {
      Matmul mm(pool, level);
      QCOMPARE(mm.run(DType::Q4_0, w.data(), 4, 33, x.data(), 1, y.data()), KernelStatus::kBadSize);
      QCOMPARE(mm.run(DType::Q8_0, w.data(), 4, 16, x.data(), 1, y.data()), KernelStatus::kBadSize);
      QCOMPARE(mm.run(DType::Q4_K, w.data(), 4, 288, x.data(), 1, y.data()), KernelStatus::kBadSize);
      QCOMPARE(mm.run(DType::Q6_K, w.data(), 4, 32, x.data(), 1, y.data()), KernelStatus::kBadSize);
      QCOMPARE(mm.run(DType::Q4_0, w.data(), 0, 32, x.data(), 1, y.data()), KernelStatus::kBadSize);
      QCOMPARE(mm.run(DType::Q4_0, w.data(), 4, 32, x.data(), 0, y.data()), KernelStatus::kBadSize);
      QCOMPARE(mm.run(DType::F32, w.data(), 4, 0, x.data(), 1, y.data()), KernelStatus::kBadSize);
      QCOMPARE(mm.run(DType::Q8_K, w.data(), 4, 256, x.data(), 1, y.data()), KernelStatus::kUnsupportedType);
      QCOMPARE(mm.run(static_cast<DType>(3), w.data(), 4, 32, x.data(), 1, y.data()), KernelStatus::kUnsupportedType);
      float out = 0;
      QCOMPARE(vec_dot(DType::Q4_K, w.data(), x.data(), 100, &out, level), KernelStatus::kBadSize);
      QCOMPARE(vec_dot(DType::Q8_K, w.data(), x.data(), 256, &out, level), KernelStatus::kUnsupportedType);
      QCOMPARE(vec_dot(static_cast<DType>(6), w.data(), x.data(), 32, &out, level), KernelStatus::kUnsupportedType);
    }
  }
};

QTEST_APPLESS_MAIN(TestMatmul)
#include "test_matmul.moc"
