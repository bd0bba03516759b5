// Tests of the row-interleaved weight layout (kernels/cpu/weight_layout.h): the repack, the
// group kernels through Matmul (MatmulTarget::layout = kInterleaved8) at every SIMD level this
// CPU has, and ResidentWeights' repack at load. Results are checked against a float64
// reference built from dequantize_row (kernels/cpu/quant.h) of the ORIGINAL row-major rows and
// of quantize_row's Q8_0 activations, so a wrong repack, a wrong lane or a wrong tail row fails.
// Row counts include ones that are not a multiple of 8 (rows after the last group stay
// row-major) and m runs 1..9 plus larger batches (several activation groups of 4).
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
#include <vector>

#include "core/backend/cpu/resident_weights.h"
#include "core/model/model_weights.h"
#include "kernels/common/dtype.h"
#include "kernels/cpu/dot_interleaved.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/quant_blocks.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/cpu/weight_layout.h"

using hearth::DType;
using hearth::kernels::KernelStatus;
using namespace hearth::kernels;
using namespace hearth::kernels::cpu;

namespace {

// Allowed |error| as a fraction of sum_i |w_i x_i|: the same bound test_matmul uses for the
// row kernels (float rounding of scale products, int32 -> float and float sums measured well
// below it); one wrong element in a row of 2048 is about 250 times more.
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

size_t bytes_of_row(DType t, int64_t n_cols) { return static_cast<size_t>(*hearth::row_bytes(t, static_cast<uint64_t>(n_cols))); }

DType activation_type(DType wt) { return wt == DType::Q4_0 ? DType::Q8_0 : DType::Q8_K; }

// Q4_0 / Q4_K / Q6_K rows: even rows from quantize_row of gaussian values (with an offset on some, so
// the Q4_K mins matter), odd rows random bytes with sane d / dmin (every nibble value and
// every 6-bit scale and min, in every position).
std::vector<uint8_t> make_weights(DType t, int64_t n_rows, int64_t n_cols, std::mt19937_64& rng) {
  const size_t rb = bytes_of_row(t, n_cols);
  std::vector<uint8_t> w(rb * static_cast<size_t>(n_rows));
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(0.002f, 0.05f);
  std::vector<float> row(static_cast<size_t>(n_cols));
  for (int64_t r = 0; r < n_rows; ++r) {
    uint8_t* dst = w.data() + static_cast<size_t>(r) * rb;
    if (r % 2 == 0) {
      const float offset = (r % 4 == 2) ? 0.7f : 0.0f;
      for (auto& v : row) v = gauss(rng) * 0.5f + offset;
      if (quantize_row(t, row.data(), dst, n_cols) != KernelStatus::kOk) qFatal("quantize_row failed");
      continue;
    }
    for (size_t i = 0; i < rb; ++i) dst[i] = static_cast<uint8_t>(rng());
    const size_t block = traits(t).block_bytes;
    for (size_t off = 0; off < rb; off += block) {
      const uint16_t d = fp32_to_fp16(uni(rng)), dmin = fp32_to_fp16(uni(rng));
      if (t == DType::Q6_K) {
        std::memcpy(dst + off + offsetof(BlockQ6_K, d), &d, 2);
        continue;
      }
      std::memcpy(dst + off, &d, 2);
      if (t == DType::Q4_K) std::memcpy(dst + off + 2, &dmin, 2);
    }
  }
  return w;
}
std::vector<uint8_t> make_q4_0(int64_t n_rows, int64_t n_cols, std::mt19937_64& rng) {
  return make_weights(DType::Q4_0, n_rows, n_cols, rng);
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

struct Reference {
  std::vector<double> y;      // [m, n_rows]
  std::vector<double> bound;  // [m, n_rows] allowed |error|
};

// Dequantized weight row and, per element, the magnitude of the terms the kernels add up: for
// Q4_K |d sc q| + |dmin m| (dequantized with dmin's sign flipped, as d, dmin >= 0 here).
void reference_weight_row(DType t, const uint8_t* src, int64_t n, std::vector<double>& w, std::vector<double>& mag) {
  std::vector<float> f(static_cast<size_t>(n));
  if (dequantize_row(t, src, f.data(), n) != KernelStatus::kOk) qFatal("dequantize_row failed");
  w.assign(f.begin(), f.end());
  mag.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) mag[i] = std::fabs(w[i]);
  if (t != DType::Q4_K) return;
  std::vector<uint8_t> flipped(src, src + bytes_of_row(t, n));
  for (size_t off = 0; off < flipped.size(); off += 144) flipped[off + 3] ^= 0x80;  // sign bit of dmin
  if (dequantize_row(t, flipped.data(), f.data(), n) != KernelStatus::kOk) qFatal("dequantize_row failed");
  for (int64_t i = 0; i < n; ++i) mag[i] = std::fabs(static_cast<double>(f[i]));
}

// y = x W^T in float64 from the row-major weights and the activations rounded as the kernels
// see them (quantize_row then dequantize_row of Q8_0 / Q8_K).
Reference reference_matmul(DType wt, const uint8_t* w, int64_t n_rows, int64_t n_cols, const float* x, int64_t m) {
  const DType at = activation_type(wt);
  std::vector<double> xd(static_cast<size_t>(m * n_cols));
  std::vector<float> f(static_cast<size_t>(n_cols));
  std::vector<uint8_t> q(bytes_of_row(at, n_cols));
  for (int64_t j = 0; j < m; ++j) {
    if (quantize_row(at, x + j * n_cols, q.data(), n_cols) != KernelStatus::kOk) qFatal("quantize_row failed");
    if (dequantize_row(at, q.data(), f.data(), n_cols) != KernelStatus::kOk) qFatal("dequantize_row failed");
    std::copy(f.begin(), f.end(), xd.begin() + j * n_cols);
  }
  Reference ref{std::vector<double>(static_cast<size_t>(m * n_rows)), std::vector<double>(static_cast<size_t>(m * n_rows))};
  const size_t rb = bytes_of_row(wt, n_cols);
  std::vector<double> wrow, mag;
  for (int64_t r = 0; r < n_rows; ++r) {
    reference_weight_row(wt, w + r * rb, n_cols, wrow, mag);
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
Reference reference_matmul(const uint8_t* w, int64_t n_rows, int64_t n_cols, const float* x, int64_t m) {
  return reference_matmul(DType::Q4_0, w, n_rows, n_cols, x, m);
}

// The kInterleaved8 copy of a row-major matrix: groups repacked, tail rows copied.
std::vector<uint8_t> interleaved_copy(DType t, const std::vector<uint8_t>& w, int64_t n_rows, int64_t n_cols) {
  std::vector<uint8_t> out(w.size(), 0xA5);
  const int64_t groups = n_rows / kInterleaveRows;
  if (interleave_row_groups(t, w.data(), out.data(), n_cols, 0, groups) != KernelStatus::kOk) {
    qFatal("interleave_row_groups failed");
  }
  const size_t tail = static_cast<size_t>(groups * kInterleaveRows) * bytes_of_row(t, n_cols);
  std::copy(w.begin() + static_cast<ptrdiff_t>(tail), w.end(), out.begin() + static_cast<ptrdiff_t>(tail));
  return out;
}
std::vector<uint8_t> interleaved_copy(const std::vector<uint8_t>& w, int64_t n_rows, int64_t n_cols) {
  return interleaved_copy(DType::Q4_0, w, n_rows, n_cols);
}

// Checks y (m x n_rows, NaN guard after it) against ref; describes the first failure.
bool check_output(const std::vector<float>& y, const Reference& ref, int64_t count, const std::string& where,
                  std::string& failure) {
  for (int64_t i = 0; i < count; ++i) {
    const double err = std::fabs(static_cast<double>(y[i]) - ref.y[i]);
    if (!(err <= ref.bound[i])) {
      failure = where + ": y[" + std::to_string(i) + "] = " + std::to_string(y[i]) + ", reference " +
                std::to_string(ref.y[i]) + ", bound " + std::to_string(ref.bound[i]);
      return false;
    }
  }
  for (size_t i = static_cast<size_t>(count); i < y.size(); ++i) {
    if (!std::isnan(y[i])) {
      failure = where + ": wrote past the end of y";
      return false;
    }
  }
  return true;
}

constexpr int64_t kGuard = 16;

}  // namespace

class TestInterleaved : public QObject {
  Q_OBJECT

 private:
  uint64_t seed_ = 0;

 private slots:
  void initTestCase() {
    seed_ = test_seed();
    qInfo("seed %llu (set HEARTH_TEST_SEED to repeat)", static_cast<unsigned long long>(seed_));
    qInfo("detected SIMD level: %s", simd_level_name(detect_simd_level()));
  }

  // The repack is a permutation of the group's bytes matching the documented layout.
  void repackMatchesDocumentedLayout() {
    std::mt19937_64 rng(seed_);
    const int64_t n_rows = 16, n_cols = 96, nb = n_cols / 32;
    const std::vector<uint8_t> w = make_q4_0(n_rows, n_cols, rng);
    const std::vector<uint8_t> packed = interleaved_copy(w, n_rows, n_cols);
    const auto* rows = reinterpret_cast<const BlockQ4_0*>(w.data());
    const auto* groups = reinterpret_cast<const BlockQ4_0x8*>(packed.data());
    for (int64_t g = 0; g < 2; ++g) {
      for (int64_t b = 0; b < nb; ++b) {
        for (int r = 0; r < 8; ++r) {
          const BlockQ4_0& src = rows[(8 * g + r) * nb + b];
          const BlockQ4_0x8& dst = groups[g * nb + b];
          QCOMPARE(dst.d[r], src.d);
          for (int i = 0; i < 16; ++i) QCOMPARE(dst.qs[32 * (i / 4) + 4 * r + i % 4], src.qs[i]);
        }
      }
    }
  }

  // copy_row_major gives back every row of an interleaved matrix (groups and the row-major tail),
  // byte for byte, for each type; row-major matrices and bad arguments too.
  void rowGatherInvertsRepack() {
    std::mt19937_64 rng(seed_ + 9);
    for (DType t : {DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
      const int64_t n_rows = 8 * 3 + 5, n_cols = 512;
      const std::vector<uint8_t> w = make_weights(t, n_rows, n_cols, rng);
      const std::vector<uint8_t> packed = interleaved_copy(t, w, n_rows, n_cols);
      QVERIFY(packed != w);
      const size_t rb = bytes_of_row(t, n_cols);
      std::vector<uint8_t> row(rb);
      for (int64_t r = 0; r < n_rows; ++r) {
        std::fill(row.begin(), row.end(), 0xEE);
        QCOMPARE(copy_row_major(t, WeightLayout::kInterleaved8, packed.data(), n_rows, n_cols, r, row.data()),
                 KernelStatus::kOk);
        QVERIFY2(std::memcmp(row.data(), w.data() + r * rb, rb) == 0, qPrintable(QString("row %1").arg(r)));
        QCOMPARE(copy_row_major(t, WeightLayout::kRowMajor, w.data(), n_rows, n_cols, r, row.data()), KernelStatus::kOk);
        QVERIFY(std::memcmp(row.data(), w.data() + r * rb, rb) == 0);
      }
      QCOMPARE(copy_row_major(t, WeightLayout::kInterleaved8, packed.data(), n_rows, n_cols, n_rows, row.data()),
               KernelStatus::kBadSize);
      QCOMPARE(copy_row_major(t, WeightLayout::kInterleaved8, packed.data(), n_rows, n_cols, -1, row.data()),
               KernelStatus::kBadSize);
    }
    std::vector<uint8_t> row(64);
    QCOMPARE(copy_row_major(DType::Q8_0, WeightLayout::kInterleaved8, row.data(), 8, 32, 0, row.data()),
             KernelStatus::kUnsupportedType);
  }

  // Matmul over interleaved weights vs the float64 reference, Q4_0, Q4_K and Q6_K: rows {8, 9, 15,
  // 16, 23, 69, 257}, m 1..9 and 17, every level, 1-3 threads, n_cols rotating through several
  // block counts.
  void matmulMatchesFloat64Reference() {
    std::mt19937_64 rng(seed_ + 1);
    const int64_t row_counts[] = {8, 9, 15, 16, 23, 69, 257};
    for (DType wt : {DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
      const std::vector<int64_t> col_counts = wt == DType::Q4_0 ? std::vector<int64_t>{32, 64, 96, 256, 288, 2048}
                                                                : std::vector<int64_t>{256, 512, 768, 2048};
      int case_index = 0;
      for (int64_t n_rows : row_counts) {
        for (int64_t m : {1, 2, 3, 4, 5, 6, 7, 8, 9, 17}) {
          const int64_t n_cols = col_counts[case_index % col_counts.size()];
          const int threads = 1 + case_index % 3;
          ++case_index;
          const std::vector<uint8_t> w = make_weights(wt, n_rows, n_cols, rng);
          const std::vector<uint8_t> packed = interleaved_copy(wt, w, n_rows, n_cols);
          const std::vector<float> x = make_activations(m, n_cols, rng);
          const Reference ref = reference_matmul(wt, w.data(), n_rows, n_cols, x.data(), m);
          ThreadPool pool(threads);
          for (SimdLevel level : levels_to_test()) {
            Matmul mm(pool, level);
            std::vector<float> y(static_cast<size_t>(m * n_rows + kGuard), std::numeric_limits<float>::quiet_NaN());
            const MatmulTarget target{wt, packed.data(), n_rows, y.data(), WeightLayout::kInterleaved8};
            const std::string where = std::string(dtype_name(wt)) + " " + simd_level_name(level) +
                                      " threads=" + std::to_string(threads) + " n_rows=" + std::to_string(n_rows) +
                                      " n_cols=" + std::to_string(n_cols) + " m=" + std::to_string(m);
            QCOMPARE(mm.run_shared({&target, 1}, n_cols, x.data(), m), KernelStatus::kOk);
            std::string failure;
            QVERIFY2(check_output(y, ref, m * n_rows, where, failure), failure.c_str());
          }
        }
      }
    }
  }

  // A large shape (the FFN of a 1B model) at every level, m = 1 and 4.
  void largeShape() {
    std::mt19937_64 rng(seed_ + 2);
    const int64_t n_rows = 517, n_cols = 2048;
    for (DType wt : {DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
      const std::vector<uint8_t> w = make_weights(wt, n_rows, n_cols, rng);
      const std::vector<uint8_t> packed = interleaved_copy(wt, w, n_rows, n_cols);
      for (int64_t m : {1, 4}) {
        const std::vector<float> x = make_activations(m, n_cols, rng);
        const Reference ref = reference_matmul(wt, w.data(), n_rows, n_cols, x.data(), m);
        ThreadPool pool(2);
        for (SimdLevel level : levels_to_test()) {
          Matmul mm(pool, level);
          std::vector<float> y(static_cast<size_t>(m * n_rows + kGuard), std::numeric_limits<float>::quiet_NaN());
          QCOMPARE(mm.run_shared(std::vector<MatmulTarget>{{wt, packed.data(), n_rows, y.data(),
                                                            WeightLayout::kInterleaved8}},
                                 n_cols, x.data(), m),
                   KernelStatus::kOk);
          std::string failure;
          QVERIFY2(check_output(y, ref, m * n_rows, std::string(dtype_name(wt)) + " " + simd_level_name(level), failure),
                   failure.c_str());
        }
      }
    }
  }

  // The SIMD group kernels agree with the portable one (same integer sums; float order only).
  void groupKernelsAgree() {
    std::mt19937_64 rng(seed_ + 3);
    const int64_t n_cols = 1024;
    ThreadPool pool(1);
    for (DType wt : {DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
      const std::vector<uint8_t> w = interleaved_copy(wt, make_weights(wt, 8, n_cols, rng), 8, n_cols);
      const std::vector<float> x = make_activations(4, n_cols, rng);
      std::vector<float> portable_y(32), simd_y(32);
      for (SimdLevel level : levels_to_test()) {
        if (level == SimdLevel::kPortable) continue;
        Matmul portable_mm(pool, SimdLevel::kPortable), simd_mm(pool, level);
        const MatmulTarget a{wt, w.data(), 8, portable_y.data(), WeightLayout::kInterleaved8};
        const MatmulTarget b{wt, w.data(), 8, simd_y.data(), WeightLayout::kInterleaved8};
        QCOMPARE(portable_mm.run_shared({&a, 1}, n_cols, x.data(), 4), KernelStatus::kOk);
        QCOMPARE(simd_mm.run_shared({&b, 1}, n_cols, x.data(), 4), KernelStatus::kOk);
        for (int i = 0; i < 32; ++i) {
          const double tol = 1e-5 * (std::fabs(portable_y[i]) + 1.0);
          QVERIFY2(std::fabs(portable_y[i] - simd_y[i]) <= tol,
                   (std::string(dtype_name(wt)) + " " + simd_level_name(level) + " output " + std::to_string(i)).c_str());
        }
      }
    }
  }

  // One shared pass over an interleaved matrix, a row-major one and another interleaved one
  // with tail rows: each output matches its own reference.
  void sharedPassMixesLayouts() {
    std::mt19937_64 rng(seed_ + 4);
    const int64_t n_cols = 256, m = 3;
    const int64_t rows[] = {40, 13, 21};
    const WeightLayout layouts[] = {WeightLayout::kInterleaved8, WeightLayout::kRowMajor, WeightLayout::kInterleaved8};
    std::vector<std::vector<uint8_t>> originals, stored;
    for (int t = 0; t < 3; ++t) {
      originals.push_back(make_q4_0(rows[t], n_cols, rng));
      stored.push_back(layouts[t] == WeightLayout::kRowMajor ? originals.back()
                                                             : interleaved_copy(originals.back(), rows[t], n_cols));
    }
    const std::vector<float> x = make_activations(m, n_cols, rng);
    ThreadPool pool(2);
    for (SimdLevel level : levels_to_test()) {
      std::vector<std::vector<float>> ys;
      std::vector<MatmulTarget> targets;
      for (int t = 0; t < 3; ++t) ys.emplace_back(static_cast<size_t>(m * rows[t] + kGuard), std::numeric_limits<float>::quiet_NaN());
      for (int t = 0; t < 3; ++t) targets.push_back({DType::Q4_0, stored[t].data(), rows[t], ys[t].data(), layouts[t]});
      Matmul mm(pool, level);
      QCOMPARE(mm.run_shared(targets, n_cols, x.data(), m), KernelStatus::kOk);
      for (int t = 0; t < 3; ++t) {
        const Reference ref = reference_matmul(originals[t].data(), rows[t], n_cols, x.data(), m);
        std::string failure;
        QVERIFY2(check_output(ys[t], ref, m * rows[t], std::string(simd_level_name(level)) + " target " + std::to_string(t),
                              failure),
                 failure.c_str());
      }
    }
  }

  void rejectsUnsupported() {
    std::vector<uint8_t> w(8 * 144), out(8 * 144);
    QCOMPARE(interleave_row_groups(DType::Q5_K, w.data(), out.data(), 256, 0, 1), KernelStatus::kUnsupportedType);
    QCOMPARE(interleave_row_groups(DType::Q4_K, w.data(), out.data(), 128, 0, 1), KernelStatus::kBadSize);
    QCOMPARE(interleave_row_groups(DType::Q4_0, w.data(), out.data(), 33, 0, 1), KernelStatus::kBadSize);
    QCOMPARE(interleave_row_groups(DType::Q4_0, w.data(), out.data(), 32, 1, 0), KernelStatus::kBadSize);
    ThreadPool pool(1);
    Matmul mm(pool);
    std::vector<float> x(256, 1.0f), y(8);
    const MatmulTarget k_quant{DType::Q5_K, w.data(), 8, y.data(), WeightLayout::kInterleaved8};
    QCOMPARE(mm.run_shared({&k_quant, 1}, 256, x.data(), 1), KernelStatus::kUnsupportedType);
    const MatmulTarget bad_layout{DType::Q4_0, w.data(), 8, y.data(), static_cast<WeightLayout>(7)};
    QCOMPARE(mm.run_shared({&bad_layout, 1}, 256, x.data(), 1), KernelStatus::kUnsupportedType);
  }

  // ResidentWeights(interleave_rows = true) repacks Q4_0 and Q4_K matrices (repack_at_load) with at least 8 rows (the
  // token embedding only when it is the tied output), keeps other types row-major, and the repacked views through Matmul
  // (with their layout) give the reference products of the original rows.
  void residentWeightsRepack() {
    std::mt19937_64 rng(seed_ + 5);
    const int64_t n_embd = 256;
    auto view = [&](const std::vector<uint8_t>& bytes, DType type, int64_t n_rows) {
      hearth::MatrixView v;
      v.type = type;
      v.data = bytes.data();
      v.n_cols = n_embd;
      v.n_rows = n_rows;
      v.row_bytes = *hearth::row_bytes(type, n_embd);
      return v;
    };
    const std::vector<uint8_t> embd = make_weights(DType::Q4_0, 24, n_embd, rng);
    const int64_t rows[] = {64, 19, 19, 64, 5, 200, 64};  // wq wk wv wo w_gate w_up w_down
    std::vector<std::vector<uint8_t>> mats;
    // w_up is Q4_K, wv Q6_K, the others Q4_0 (w_down is replaced by a Q8_0 matrix below).
    const DType types[] = {DType::Q4_0, DType::Q4_0, DType::Q6_K, DType::Q4_0, DType::Q4_0, DType::Q4_K, DType::Q4_0};
    for (int i = 0; i < 7; ++i) mats.push_back(make_weights(types[i], rows[i], n_embd, rng));
    std::vector<uint8_t> q8(static_cast<size_t>(10 * bytes_of_row(DType::Q8_0, n_embd)));
    for (auto& b : q8) b = static_cast<uint8_t>(rng());
    // ResidentWeights releases the source pages after copying them (madvise DONTNEED, meant for
    // the file mapping; on heap memory that zeroes them), so it gets copies and the checks use
    // the originals.
    const std::vector<uint8_t> embd_source = embd, q8_source = q8;
    const std::vector<std::vector<uint8_t>> mats_source = mats;
    hearth::ModelWeights source;
    source.token_embd = view(embd_source, DType::Q4_0, 24);
    source.output = source.token_embd;  // tied
    source.layers.resize(1);
    auto& l = source.layers[0];
    hearth::MatrixView* views[] = {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down};
    for (int i = 0; i < 7; ++i) *views[i] = view(mats_source[i], types[i], rows[i]);
    l.w_down = view(q8_source, DType::Q8_0, 10);  // a type without an interleaved layout
    ThreadPool pool(2);
    hearth::ResidentWeights resident(source, pool, /*interleave_rows=*/true);
    const hearth::ModelWeights& w = resident.weights();
    // The tied embedding/output matrix is repacked for the output product; every row still reads
    // back in the file encoding (the embedding lookup).
    QCOMPARE(w.token_embd.layout, WeightLayout::kInterleaved8);
    QCOMPARE(w.output.data, w.token_embd.data);
    QCOMPARE(w.output.layout, WeightLayout::kInterleaved8);
    {
      const size_t rb = bytes_of_row(DType::Q4_0, n_embd);
      std::vector<uint8_t> row(rb);
      for (int64_t r = 0; r < 24; ++r) {
        QCOMPARE(copy_row_major(DType::Q4_0, w.token_embd.layout, w.token_embd.data, 24, n_embd, r, row.data()),
                 KernelStatus::kOk);
        QVERIFY(std::memcmp(row.data(), embd.data() + r * rb, rb) == 0);
      }
    }
    QCOMPARE(w.layers[0].w_gate.layout, WeightLayout::kRowMajor);  // 5 rows: no whole group
    QCOMPARE(w.layers[0].w_down.layout, WeightLayout::kRowMajor);  // Q8_0
    QVERIFY(std::memcmp(w.layers[0].w_down.data, q8.data(), q8.size()) == 0);
    const hearth::MatrixView* out_slots[] = {&w.layers[0].wq, &w.layers[0].wk, &w.layers[0].wv, &w.layers[0].wo,
                                             &w.layers[0].w_gate, &w.layers[0].w_up};
    const int64_t m = 2;
    const std::vector<float> x = make_activations(m, n_embd, rng);
    Matmul mm(pool);
    for (int i = 0; i < 6; ++i) {
      const hearth::MatrixView& v = *out_slots[i];
      if (rows[i] >= 8 && repack_at_load(types[i])) QCOMPARE(v.layout, WeightLayout::kInterleaved8);
      if (!repack_at_load(types[i])) QCOMPARE(v.layout, WeightLayout::kRowMajor);
      std::vector<float> y(static_cast<size_t>(m * v.n_rows + kGuard), std::numeric_limits<float>::quiet_NaN());
      const MatmulTarget target{v.type, v.data, v.n_rows, y.data(), v.layout};
      QCOMPARE(mm.run_shared({&target, 1}, n_embd, x.data(), m), KernelStatus::kOk);
      const Reference ref = reference_matmul(types[i], mats[i].data(), rows[i], n_embd, x.data(), m);
      std::string failure;
      QVERIFY2(check_output(y, ref, m * v.n_rows, "matrix " + std::to_string(i), failure), failure.c_str());
    }
    // Without the flag nothing is repacked.
    const std::vector<uint8_t> wq_source = mats[0];
    l.wq = view(wq_source, DType::Q4_0, rows[0]);
    hearth::ResidentWeights plain(source, pool);
    QCOMPARE(plain.weights().layers[0].wq.layout, WeightLayout::kRowMajor);
    QVERIFY(std::memcmp(plain.weights().layers[0].wq.data, mats[0].data(), mats[0].size()) == 0);
  }
};

QTEST_APPLESS_MAIN(TestInterleaved)
#include "test_interleaved.moc"
