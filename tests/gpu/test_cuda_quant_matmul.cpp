// Label gpu: quant_matvec / quant_gemm (kernels/cuda/quant_matmul.h) against a float64 host
// reference built from the CPU dequantizer (kernels/cpu/quant.h), for every weight type, many
// shapes (odd row counts, 1..several blocks of columns) and m = 1..300 activation rows. Fresh
// random inputs each run (the seed is printed; HEARTH_TEST_SEED=<n> repeats a run). Outputs are
// poisoned with NaN before each launch and guarded by sentinels after the end.
//
// Error bounds, per output, relative to magnitude = sum_c |w_c x_c| (w = dequantized weight):
//  - matvec (m <= 64), quantized W: the activations are quantized to int8 per 32 columns with an
//    fp16 scale (Q4_0 / Q8_0) or per 256 (K-quants; q8_form.h), so |err| <= sum_c |w_c| *
//    amax(x in c's group) / 254 * 1.15 + 1e-5 * magnitude (1.15: the fp16 scale's rounding);
//  - matvec, F32/F16/BF16 W: float32 arithmetic, |err| <= 1e-5 * magnitude;
//  - gemm (m > 64), quantized/F16 W: FP16 W and x, FP32 accumulate: |err| <= 2e-3 * magnitude;
//    BF16 W: BF16 x, |err| <= 8e-3 * magnitude; F32 W: |err| <= 1e-5 * magnitude.
// Every bound also has + 1e-6 for outputs that are (near) zero.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <QTest>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/dtype.h"
#include "kernels/cpu/quant.h"
#include "kernels/cuda/quant_matmul.h"
#include "kernels/cuda/quant_matvec_launch.h"

using hearth::DType;
namespace kc = hearth::kernels::cuda;
namespace cpu = hearth::kernels::cpu;

namespace {

// Owns cudaMalloc'd memory; null when the allocation failed.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes > 0 && cudaMalloc(&ptr_, bytes) != cudaSuccess) ptr_ = nullptr;
  }
  ~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  bool ok() const { return bytes_ == 0 || ptr_ != nullptr; }
  void* get() const { return ptr_; }
  template <typename T> T* as() const { return static_cast<T*>(ptr_); }
  bool upload(const void* src, size_t n) { return cudaMemcpy(ptr_, src, n, cudaMemcpyHostToDevice) == cudaSuccess; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

bool cuda_device_present() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

bool is_quantized(DType t) { return t != DType::F32 && t != DType::F16 && t != DType::BF16; }

// A weight matrix in its stored bytes and as the float64 values the CPU dequantizer gives.
struct HostMatrix {
  DType type;
  int64_t rows, cols;
  std::vector<uint8_t> bytes;
  std::vector<double> values;  // [rows, cols]
};

HostMatrix make_matrix(DType t, int64_t rows, int64_t cols, std::mt19937_64& rng) {
  HostMatrix h{t, rows, cols, {}, {}};
  const uint64_t rb = *hearth::row_bytes(t, static_cast<uint64_t>(cols));
  h.bytes.resize(rb * rows);
  h.values.resize(static_cast<size_t>(rows * cols));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> row_scale(0.01f, 2.0f);
  std::vector<float> src(cols), back(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float s = row_scale(rng);
    for (auto& v : src) v = s * normal(rng);
    if (cols > 3) src[rng() % cols] *= 8.0f;  // an outlier per row
    if (cpu::quantize_row(t, src.data(), h.bytes.data() + r * rb, cols) != hearth::kernels::KernelStatus::kOk) return {};
    if (cpu::dequantize_row(t, h.bytes.data() + r * rb, back.data(), cols) != hearth::kernels::KernelStatus::kOk) return {};
    for (int64_t c = 0; c < cols; ++c) h.values[r * cols + c] = back[c];
  }
  return h;
}

std::vector<float> make_activations(int64_t m, int64_t cols, std::mt19937_64& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(m * cols));
  for (auto& v : x) v = normal(rng);
  for (int64_t r = 0; r < m; ++r) x[r * cols + rng() % cols] *= 20.0f;  // activation outliers
  return x;
}

struct Bound {
  double relative;      // times magnitude
  bool int8_activations;  // add the int8 activation quantization term
};

Bound bound_for(DType t, int64_t m) {
  if (m <= kc::kMaxMatvecRows) return is_quantized(t) ? Bound{1e-5, true} : Bound{1e-5, false};
  if (t == DType::F32) return {1e-5, false};
  if (t == DType::BF16) return {8e-3, false};
  return {2e-3, false};
}

uint64_t test_seed() {
  if (const char* s = std::getenv("HEARTH_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  return std::random_device{}() * 0x100000001ull ^ std::random_device{}();
}

}  // namespace

class TestCudaQuantMatmul : public QObject {
  Q_OBJECT

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  cublasHandle_t cublas_ = nullptr;
  cudaStream_t stream_ = nullptr;

  // Runs the product for m rows of fresh activations and compares every output with the
  // float64 reference. Returns an empty string or the first failure.
  std::string check_product(const HostMatrix& h, const DeviceBuffer& wdev, int64_t m) {
    const std::vector<float> x = make_activations(m, h.cols, rng_);
    constexpr int64_t kGuard = 64;  // sentinels after the output
    const int64_t n_out = m * h.rows;
    DeviceBuffer xdev(x.size() * sizeof(float)), ydev((n_out + kGuard) * sizeof(float));
    if (!xdev.ok() || !ydev.ok() || !xdev.upload(x.data(), x.size() * sizeof(float))) return "device allocation/upload failed";
    std::vector<float> y(n_out + kGuard, std::numeric_limits<float>::quiet_NaN());
    const float sentinel = 12345.0f;
    for (int64_t i = n_out; i < n_out + kGuard; ++i) y[i] = sentinel;
    if (!ydev.upload(y.data(), y.size() * sizeof(float))) return "upload of the poisoned output failed";

    const kc::QuantWeights w{h.type, wdev.get(), h.rows, h.cols, false};
    cudaError_t e;
    if (m <= kc::kMaxMatvecRows) {
      // Every entry point in turn: allocating, with a workspace, through quant_gemm, and every
      // k_split of the tensor-core kernel (1, 2, 4, 8).
      constexpr int kKernelVariants[] = {1, 2, 4, 8, 1, 2, 8};
      const int variant = static_cast<int>(call_counter_++ % 10);
      DeviceBuffer ws(kc::gemm_workspace_bytes(w, m));
      if (!ws.ok()) return "workspace allocation failed";
      if (variant == 0 || ws.get() == nullptr) {
        e = kc::quant_matvec(w, xdev.as<float>(), m, ydev.as<float>(), stream_);
      } else if (variant == 1) {
        e = kc::quant_matvec(w, xdev.as<float>(), m, ydev.as<float>(), ws.get(), stream_);
      } else if (variant == 2) {
        e = kc::quant_gemm(w, xdev.as<float>(), m, ydev.as<float>(), ws.get(), cublas_, stream_);
      } else {
        e = kc::detail::quant_matvec_tuned(w, xdev.as<float>(), m, ydev.as<float>(), ws.get(),
                                           kKernelVariants[variant - 3], stream_);
      }
      if (e == cudaSuccess) e = cudaStreamSynchronize(stream_);
    } else {
      DeviceBuffer ws(kc::gemm_workspace_bytes(w, m));
      if (!ws.ok()) return "workspace allocation failed";
      e = kc::quant_gemm(w, xdev.as<float>(), m, ydev.as<float>(), ws.get(), cublas_, stream_);
      if (e == cudaSuccess) e = cudaStreamSynchronize(stream_);
    }
    if (e == cudaSuccess) e = cudaStreamSynchronize(stream_);
    if (e != cudaSuccess) return std::string("kernel error: ") + cudaGetErrorString(e);
    if (cudaMemcpy(y.data(), ydev.get(), y.size() * sizeof(float), cudaMemcpyDeviceToHost) != cudaSuccess) {
      return "download failed";
    }
    for (int64_t i = n_out; i < n_out + kGuard; ++i) {
      if (y[i] != sentinel) return "write past the end of y at " + std::to_string(i - n_out);
    }
    const Bound b = bound_for(h.type, m);
    double worst = 0;
    for (int64_t r = 0; r < m; ++r) {
      const float* xr = x.data() + r * h.cols;
      // amax of x per group of the int8 activation form (32 or 256 columns)
      const int64_t group = kc::q8_form(h.type) == kc::Q8Form::kSuper256 ? 256 : 32;
      std::vector<double> amax(static_cast<size_t>((h.cols + group - 1) / group), 0.0);
      for (int64_t c = 0; c < h.cols; ++c) amax[c / group] = std::max(amax[c / group], std::fabs(double(xr[c])));
      for (int64_t row = 0; row < h.rows; ++row) {
        const double* wr = h.values.data() + row * h.cols;
        double ref = 0, mag = 0, qterm = 0;
        for (int64_t c = 0; c < h.cols; ++c) {
          ref += wr[c] * xr[c];
          mag += std::fabs(wr[c] * xr[c]);
          qterm += std::fabs(wr[c]) * amax[c / group];
        }
        const double tol = b.relative * mag + (b.int8_activations ? qterm / 254.0 * 1.15 : 0.0) + 1e-6;
        const double got = y[r * h.rows + row];
        const double err = std::fabs(got - ref);
        if (!std::isfinite(got) || err > tol) {
          return "y[" + std::to_string(r) + "," + std::to_string(row) + "] = " + std::to_string(got) + ", reference " +
                 std::to_string(ref) + ", |err| " + std::to_string(err) + " > bound " + std::to_string(tol) +
                 " (magnitude " + std::to_string(mag) + ")";
        }
        worst = std::max(worst, err / (mag + 1e-30));
      }
    }
    worst_relative_ = std::max(worst_relative_, worst);
    return {};
  }

  double worst_relative_ = 0;
  uint64_t call_counter_ = 0;

  void check_type_on_shapes(DType t, const std::vector<int64_t>& rows_list, const std::vector<int64_t>& blocks_list,
                            const std::vector<int64_t>& m_list) {
    const int64_t be = hearth::traits(t).block_elements;
    const int64_t unit = be == 1 ? 8 : be;  // float types: also odd column counts below
    for (int64_t rows : rows_list) {
      for (int64_t blocks : blocks_list) {
        for (int64_t cols : {blocks * unit, be == 1 ? blocks * unit + 3 : blocks * unit}) {
          const HostMatrix h = make_matrix(t, rows, cols, rng_);
          QVERIFY2(!h.bytes.empty(), "CPU quantization failed");
          DeviceBuffer wdev(h.bytes.size());
          QVERIFY(wdev.ok() && wdev.upload(h.bytes.data(), h.bytes.size()));
          for (int64_t m : m_list) {
            const std::string err = check_product(h, wdev, m);
            QVERIFY2(err.empty(), qPrintable(QString("%1 rows=%2 cols=%3 m=%4: %5")
                                                 .arg(QString::fromUtf8(hearth::dtype_name(t).data(),
                                                                        int(hearth::dtype_name(t).size())))
                                                 .arg(rows).arg(cols).arg(m).arg(QString::fromStdString(err))));
          }
          if (be != 1) break;  // one column count per block count for the block types
        }
      }
    }
  }

 private slots:
  void initTestCase() {
    if (!cuda_device_present()) QSKIP("no CUDA device");
    seed_ = test_seed();
    rng_.seed(seed_);
    qInfo("seed %llu (HEARTH_TEST_SEED=%llu repeats this run)", static_cast<unsigned long long>(seed_),
          static_cast<unsigned long long>(seed_));
    QCOMPARE(cudaStreamCreate(&stream_), cudaSuccess);
    QCOMPARE(cublasCreate(&cublas_), CUBLAS_STATUS_SUCCESS);
  }
  void cleanupTestCase() {
    if (cublas_) cublasDestroy(cublas_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  void every_type_matches_the_float64_reference_data() {
    QTest::addColumn<int>("type");
    for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::F16, DType::BF16, DType::F32}) {
      QTest::newRow(std::string(hearth::dtype_name(t)).c_str()) << static_cast<int>(t);
    }
  }
  void every_type_matches_the_float64_reference() {
    QFETCH(int, type);
    const auto t = static_cast<DType>(type);
    worst_relative_ = 0;
    check_type_on_shapes(t, {1, 7, 33, 130}, {1, 3, 5}, {1, 2, 3, 4, 8, 15, 16, 17, 33, 64, 65, 300});
    // A larger matrix: several thread blocks per row group, many pieces per lane.
    check_type_on_shapes(t, {1001}, {hearth::traits(t).block_elements == 1 ? 512 : 4096 / int64_t(hearth::traits(t).block_elements)},
                         {1, 5, 16, 33});
    qInfo("%s: worst |err| / magnitude %.3g", std::string(hearth::dtype_name(t)).c_str(), worst_relative_);
  }

  // Prefill over several W tiles (the FP16 tile is 16M elements: 1100 rows of 32768 columns).
  void gemm_spans_several_tiles() {
    const HostMatrix h = make_matrix(DType::Q4_0, 1100, 32768, rng_);
    QVERIFY(!h.bytes.empty());
    DeviceBuffer wdev(h.bytes.size());
    QVERIFY(wdev.ok() && wdev.upload(h.bytes.data(), h.bytes.size()));
    const std::string err = check_product(h, wdev, 66);  // > kMaxMatvecRows: the GEMM path
    QVERIFY2(err.empty(), err.c_str());
  }

  void misuse_returns_errors() {
    DeviceBuffer buf(1 << 20);
    QVERIFY(buf.ok());
    float* x = buf.as<float>();
    float* y = buf.as<float>() + (1 << 17);
    // cols not a whole number of blocks
    QCOMPARE(kc::quant_matvec({DType::Q4_K, buf.get(), 4, 100, false}, x, 1, y, stream_), cudaErrorInvalidValue);
    QCOMPARE(kc::quant_matvec({DType::Q4_0, buf.get(), 4, 33, false}, x, 1, y, stream_), cudaErrorInvalidValue);
    // too many rows for matvec, negative sizes, an activation-only or unknown type, null pointers
    QCOMPARE(kc::quant_matvec({DType::Q4_0, buf.get(), 4, 64, false}, x, kc::kMaxMatvecRows + 1, y, stream_),
             cudaErrorInvalidValue);
    QCOMPARE(kc::quant_matvec({DType::Q4_0, buf.get(), -1, 64, false}, x, 1, y, stream_), cudaErrorInvalidValue);
    QCOMPARE(kc::quant_matvec({DType::Q8_K, buf.get(), 4, 256, false}, x, 1, y, stream_), cudaErrorInvalidValue);
    QCOMPARE(kc::quant_matvec({static_cast<DType>(77), buf.get(), 4, 256, false}, x, 1, y, stream_), cudaErrorInvalidValue);
    QCOMPARE(kc::quant_matvec({DType::Q4_0, nullptr, 4, 64, false}, x, 1, y, stream_), cudaErrorInvalidValue);
    QCOMPARE(kc::quant_matvec({DType::Q4_0, buf.get(), 4, 64, false}, nullptr, 1, y, stream_), cudaErrorInvalidValue);
    // rows * row bytes overflows
    QCOMPARE(kc::quant_matvec({DType::Q4_0, buf.get(), int64_t{1} << 62, 64, false}, x, 1, y, stream_), cudaErrorInvalidValue);
    // gemm without a cuBLAS handle or workspace
    const kc::QuantWeights w{DType::Q4_0, buf.get(), 4, 64, false};
    // (m above kMaxMatvecRows: the GEMM path)
    QCOMPARE(kc::quant_gemm(w, x, kc::kMaxMatvecRows + 10, y, nullptr, nullptr, stream_), cudaErrorInvalidValue);
    QCOMPARE(kc::quant_gemm(w, x, kc::kMaxMatvecRows + 10, y, nullptr, cublas_, stream_), cudaErrorInvalidValue);
    // repacked data for a type with no repacked layout
    if (kc::repacked_bytes(DType::Q8_0, 4, 64) == 0) {
      QCOMPARE(kc::quant_matvec({DType::Q8_0, buf.get(), 4, 64, true}, x, 1, y, stream_), cudaErrorInvalidValue);
    }
    // a workspace that is not 16-byte aligned
    QCOMPARE(kc::quant_matvec(w, x, 1, y, static_cast<char*>(buf.get()) + 8, stream_), cudaErrorMisalignedAddress);
    // nothing sticky: a valid call still works afterwards
    QCOMPARE(cudaMemset(buf.get(), 0, 1 << 20), cudaSuccess);
    QCOMPARE(kc::quant_matvec(w, x, 1, y, stream_), cudaSuccess);
    QCOMPARE(cudaStreamSynchronize(stream_), cudaSuccess);
  }
};

QTEST_APPLESS_MAIN(TestCudaQuantMatmul)
#include "test_cuda_quant_matmul.moc"
