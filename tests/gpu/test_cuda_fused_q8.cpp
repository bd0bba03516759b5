// Label gpu: the int8 activation input of the quantized matvec (quant_matmul.h q8_input) and the
// kernels that write it while computing their own output (rms_norm_q8, residual_rms_norm_q8,
// silu_mul_halves_q8, paged_attention_q8), which the CUDA backend's decode passes use instead of a quantization
// launch per product. Checked:
//  - quantize_q8_input in both forms (q8_form.h) against the CPU path's own activation
//    quantization (kernels/cpu/activation_quant.h: Q8_0 and Q8_K), integer for integer;
//  - each fused kernel: its float output bit-identical to the plain kernel's, its int8 input
//    byte-identical to quantize_q8_input of that output;
//  - quant_matvec_q8_input bit-identical to quant_matvec on the float input, every quantized
//    type, m = 1 .. 64, odd row counts; misuse returns errors.
// Fresh random inputs each run (seed printed), outputs poisoned before each launch. SKIP without a
// CUDA device.
#include <QTest>

#include <cuda_runtime_api.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "kernels/cpu/activation_quant.h"
#include "kernels/cpu/dot_portable.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/quant_blocks.h"
#include "kernels/cuda/paged_attention.h"
#include "kernels/cuda/quant_matmul.h"
#include "kernels/cuda/rms_norm.h"
#include "kernels/cuda/swiglu.h"

namespace kcu = hearth::kernels::cuda;
using hearth::DType;

namespace {

bool have_device() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

// Device bytes that free themselves.
class DevBytes {
 public:
  explicit DevBytes(size_t n) : n_(n) {
    void* p = nullptr;
    if (cudaMalloc(&p, std::max<size_t>(n, 1)) == cudaSuccess) p_ = p;
  }
  ~DevBytes() {
    if (p_) cudaFree(p_);
  }
  DevBytes(const DevBytes&) = delete;
  DevBytes& operator=(const DevBytes&) = delete;
  template <typename T = void>
  T* get() const {
    return static_cast<T*>(p_);
  }
  bool put(const void* src, size_t n) { return n <= n_ && cudaMemcpy(p_, src, n, cudaMemcpyHostToDevice) == cudaSuccess; }
  template <typename T>
  bool put(const std::vector<T>& v) {
    return put(v.data(), v.size() * sizeof(T));
  }
  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> v(n_);
    if (cudaMemcpy(v.data(), p_, n_, cudaMemcpyDeviceToHost) != cudaSuccess) v.clear();
    return v;
  }
  std::vector<float> floats(size_t n) const {
    std::vector<float> v(n);
    if (cudaMemcpy(v.data(), p_, n * sizeof(float), cudaMemcpyDeviceToHost) != cudaSuccess) v.clear();
    return v;
  }
  void poison() { (void)cudaMemset(p_, 0xFF, n_); }  // 0xFFFFFFFF is a float NaN

 private:
  void* p_ = nullptr;
  size_t n_ = 0;
};

std::vector<float> random_floats(std::mt19937_64& rng, size_t n, float scale) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

size_t align256(size_t n) { return (n + 255) / 256 * 256; }

// The q8 input on the host from the CPU path's activation quantization (portable version):
// kBlock32 from Q8_0 blocks (d as fp16 -> float, sum of the 32 q), kSuper256 from Q8_K blocks
// (d, sums of 32 q from the bsums of 16), as q8_form.h defines the GPU form.
std::vector<uint8_t> reference_q8(const std::vector<float>& x, kcu::Q8Form form) {
  namespace cpu = hearth::kernels::cpu;
  const size_t n = x.size();
  std::vector<uint8_t> out(align256(n) + n / 32 * 8, 0);
  auto* qx = reinterpret_cast<int8_t*>(out.data());
  auto* ds = reinterpret_cast<float*>(out.data() + align256(n));
  auto put_sum = [](float* where, int sum) { std::memcpy(where, &sum, 4); };
  if (form == kcu::Q8Form::kBlock32) {
    std::vector<hearth::kernels::BlockQ8_0> blocks(n / 32);
    cpu::portable::quantize_activations_q8_0(x.data(), blocks.data(), static_cast<int64_t>(n));
    for (size_t b = 0; b < n / 32; ++b) {
      int sum = 0;
      for (int i = 0; i < 32; ++i) {
        qx[32 * b + i] = blocks[b].qs[i];
        sum += blocks[b].qs[i];
      }
      ds[2 * b] = cpu::half_to_float(blocks[b].d);
      put_sum(&ds[2 * b + 1], sum);
    }
  } else {
    std::vector<hearth::kernels::BlockQ8_K> blocks(n / 256);
    cpu::portable::quantize_activations_q8_K(x.data(), blocks.data(), static_cast<int64_t>(n));
    for (size_t b = 0; b < n / 256; ++b) {
      std::memcpy(qx + 256 * b, blocks[b].qs, 256);
      for (int j = 0; j < 8; ++j) {
        ds[2 * (8 * b + j)] = blocks[b].d;
        put_sum(&ds[2 * (8 * b + j) + 1], blocks[b].bsums[2 * j] + blocks[b].bsums[2 * j + 1]);
      }
    }
  }
  return out;
}

// The used part of a q8 input (the padding between qx and dsx is not written).
bool same_q8(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, size_t n, QString* where) {
  if (a.size() < align256(n) + n / 4 || b.size() < align256(n) + n / 4) {
    *where = "short buffer";
    return false;
  }
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) {
      *where = QString("qx[%1]: %2 vs %3").arg(i).arg(int(int8_t(a[i]))).arg(int(int8_t(b[i])));
      return false;
    }
  }
  if (std::memcmp(a.data() + align256(n), b.data() + align256(n), n / 4) != 0) {
    *where = "dsx differs";
    return false;
  }
  return true;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && !a.empty() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

class TestCudaFusedQ8 : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    if (!have_device()) QSKIP("no CUDA device");
    seed_ = std::random_device{}();
    qInfo("seed %llu", static_cast<unsigned long long>(seed_));
    rng_.seed(seed_);
  }

  void quantize_q8_input_matches_the_format() {
   for (kcu::Q8Form form : {kcu::Q8Form::kBlock32, kcu::Q8Form::kSuper256}) {
    for (int64_t m : {1, 3, 16, 64}) {
      for (int64_t cols : {32, 256, 2048, 8192 + 96}) {
        if (form == kcu::Q8Form::kSuper256 && cols % 256 != 0) continue;
        auto x = random_floats(rng_, m * cols, 2.0f);
        for (int64_t i = 0; i < 32; ++i) x[i] = 0.0f;  // an all-zero block: d = 0
        if (m * cols >= 1024) {
          for (int64_t i = 256; i < 512; ++i) x[i] = 0.0f;  // an all-zero super-block
          x[600] = 3.5f;                                     // equal magnitudes: the first one wins
          x[601] = -3.5f;
          x[700] = -7.25f;
          x[701] = 7.25f;
        }
        const size_t bytes = kcu::q8_input_bytes(m, cols);
        QCOMPARE(bytes, align256(m * cols) + align256(m * cols / 4));
        DevBytes dx(x.size() * 4), q8(bytes);
        QVERIFY(dx.put(x));
        q8.poison();
        QCOMPARE(kcu::quantize_q8_input(dx.get<float>(), m, cols, q8.get(), form, nullptr), cudaSuccess);
        QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
        QString where;
        QVERIFY2(same_q8(q8.bytes(), reference_q8(x, form), m * cols, &where),
                 qPrintable(QString("form %1 m %2 cols %3: %4").arg(int(form)).arg(m).arg(cols).arg(where)));
      }
    }
   }
    // kSuper256 needs whole super-blocks.
    DevBytes buf(1 << 16);
    QCOMPARE(kcu::quantize_q8_input(buf.get<float>(), 1, 96, buf.get(), kcu::Q8Form::kSuper256, nullptr),
             cudaErrorInvalidValue);
  }

  void norms_write_the_q8_input_of_their_output() {
   for (kcu::Q8Form form : {kcu::Q8Form::kBlock32, kcu::Q8Form::kSuper256}) {
    for (int64_t n : {2048, 4096 + 32, 96, 8192 + 256, 12288}) {
      if (form == kcu::Q8Form::kSuper256 && n % 256 != 0) continue;
      for (int64_t rows : {1, 5, 16}) {
        const auto x = random_floats(rng_, rows * n, 3.0f), d = random_floats(rng_, rows * n, 1.0f);
        const auto w = random_floats(rng_, n, 1.0f);
        const size_t fb = rows * n * 4, qb = kcu::q8_input_bytes(rows, n);
        DevBytes dx(fb), dd(fb), dw(n * 4), y_plain(fb), y_fused(fb), q8_fused(qb), q8_sep(qb);
        QVERIFY(dx.put(x) && dd.put(d) && dw.put(w));
        // rms_norm
        y_plain.poison();
        y_fused.poison();
        q8_fused.poison();
        q8_sep.poison();
        QCOMPARE(kcu::rms_norm(dx.get<float>(), dw.get<float>(), y_plain.get<float>(), rows, n, 1e-5f, nullptr),
                 cudaSuccess);
        QCOMPARE(kcu::rms_norm_q8(dx.get<float>(), dw.get<float>(), y_fused.get<float>(), rows, n, 1e-5f,
                                  q8_fused.get(), nullptr, form),
                 cudaSuccess);
        QCOMPARE(kcu::quantize_q8_input(y_plain.get<float>(), rows, n, q8_sep.get(), form, nullptr), cudaSuccess);
        QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
        QVERIFY2(bit_equal(y_plain.floats(rows * n), y_fused.floats(rows * n)), "rms_norm_q8: float output differs");
        QString where;
        QVERIFY2(same_q8(q8_fused.bytes(), q8_sep.bytes(), rows * n, &where), qPrintable("rms_norm_q8: " + where));
        // residual_rms_norm: x += d, y = norm(x) * w; run both from the same x.
        DevBytes dx2(fb);
        QVERIFY(dx.put(x) && dx2.put(x));
        y_plain.poison();
        y_fused.poison();
        q8_fused.poison();
        QCOMPARE(kcu::residual_rms_norm(dx.get<float>(), dd.get<float>(), dw.get<float>(), y_plain.get<float>(), rows,
                                        n, 1e-5f, nullptr),
                 cudaSuccess);
        QCOMPARE(kcu::residual_rms_norm_q8(dx2.get<float>(), dd.get<float>(), dw.get<float>(), y_fused.get<float>(),
                                           rows, n, 1e-5f, q8_fused.get(), nullptr, form),
                 cudaSuccess);
        QCOMPARE(kcu::quantize_q8_input(y_plain.get<float>(), rows, n, q8_sep.get(), form, nullptr), cudaSuccess);
        QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
        QVERIFY2(bit_equal(dx.floats(rows * n), dx2.floats(rows * n)), "residual_rms_norm_q8: residual differs");
        QVERIFY2(bit_equal(y_plain.floats(rows * n), y_fused.floats(rows * n)),
                 "residual_rms_norm_q8: float output differs");
        QVERIFY2(same_q8(q8_fused.bytes(), q8_sep.bytes(), rows * n, &where),
                 qPrintable("residual_rms_norm_q8: " + where));
      }
    }
   }
    // n not a multiple of 32 cannot be written in the q8 form.
    DevBytes buf(4096);
    QCOMPARE(kcu::rms_norm_q8(buf.get<float>(), buf.get<float>(), buf.get<float>(), 1, 33, 1e-5f, buf.get(), nullptr),
             cudaErrorInvalidValue);
  }

  void swiglu_writes_the_q8_input_of_its_output() {
   for (kcu::Q8Form form : {kcu::Q8Form::kBlock32, kcu::Q8Form::kSuper256}) {
    for (int64_t n_ff : {8192, 14336, 64, 256}) {
      if (form == kcu::Q8Form::kSuper256 && n_ff % 256 != 0) continue;
      for (int64_t rows : {1, 7, 16, 64}) {
        const auto gu = random_floats(rng_, rows * 2 * n_ff, 3.0f);
        const size_t ob = rows * n_ff * 4, qb = kcu::q8_input_bytes(rows, n_ff);
        DevBytes dgu(gu.size() * 4), o_plain(ob), o_fused(ob), q8_fused(qb), q8_sep(qb);
        QVERIFY(dgu.put(gu));
        o_plain.poison();
        o_fused.poison();
        q8_fused.poison();
        q8_sep.poison();
        QCOMPARE(kcu::silu_mul_halves(dgu.get<float>(), o_plain.get<float>(), rows, n_ff, nullptr), cudaSuccess);
        QCOMPARE(kcu::silu_mul_halves_q8(dgu.get<float>(), o_fused.get<float>(), rows, n_ff, q8_fused.get(), nullptr,
                                         form),
                 cudaSuccess);
        QCOMPARE(kcu::quantize_q8_input(o_plain.get<float>(), rows, n_ff, q8_sep.get(), form, nullptr), cudaSuccess);
        QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
        QVERIFY2(bit_equal(o_plain.floats(rows * n_ff), o_fused.floats(rows * n_ff)), "silu_mul_halves_q8: output");
        QString where;
        QVERIFY2(same_q8(q8_fused.bytes(), q8_sep.bytes(), rows * n_ff, &where),
                 qPrintable(QString("silu_mul_halves_q8 rows %1 n_ff %2: %3").arg(rows).arg(n_ff).arg(where)));
      }
    }
   }
  }

  void attention_writes_the_q8_input_of_its_output() {
    namespace cpu = hearth::kernels::cpu;
    // (split_positions, n_splits): the split-count form, then fixed split ranges (the decode
    // kernel, which merges its splits itself) with just enough and with extra splits. [dec4]
    const std::vector<std::pair<int64_t, int>> split_forms = {{0, 1}, {0, 5}, {16, 4}, {16, 6}, {64, 1}, {64, 3}};
    for (int64_t hd : {64, 128}) {
      for (const auto& [split_positions, splits] : split_forms) {
        kcu::PagedAttentionShape s;
        s.kv = {2, 2, hd, 16};  // layers, KV heads, head_dim, block tokens
        s.n_head = 8;
        s.n_tokens = 3;
        s.layer = 1;
        s.scale = 1.0f / std::sqrt(float(hd));
        s.n_splits = splits;
        s.split_positions = split_positions;
        const int64_t blocks_per_seq = 4, n_blocks = s.n_tokens * blocks_per_seq;
        std::vector<uint16_t> pool(static_cast<size_t>(n_blocks * s.kv.block_elements()));
        for (auto& h : pool) h = cpu::fp32_to_fp16(std::normal_distribution<float>(0.0f, 1.0f)(rng_));
        std::vector<int32_t> positions = {0, 17, 63}, offsets(3), tables(n_blocks);
        for (int64_t i = 0; i < n_blocks; ++i) tables[i] = int32_t((i * 7 + 3) % n_blocks);  // a permutation
        for (int64_t t = 0; t < 3; ++t) offsets[t] = int32_t(t * blocks_per_seq);
        const auto q = random_floats(rng_, s.n_tokens * s.n_head * hd, 1.0f);
        const size_t out_elems = s.n_tokens * s.n_head * hd, qb = kcu::q8_input_bytes(s.n_tokens, s.n_head * hd);
        DevBytes dpool(pool.size() * 2), dq(q.size() * 4), dpos(12), doff(12), dtab(tables.size() * 4);
        DevBytes ws(std::max<size_t>(kcu::paged_attention_workspace_bytes(s), 16));
        QCOMPARE(cudaMemset(ws.get(), 0, std::max<size_t>(kcu::paged_attention_workspace_bytes(s), 16)), cudaSuccess);
        DevBytes o_plain(out_elems * 4), o_fused(out_elems * 4), q8_fused(qb), q8_sep(qb);
        QVERIFY(dpool.put(pool) && dq.put(q) && dpos.put(positions) && doff.put(offsets) && dtab.put(tables));
        o_plain.poison();
        o_fused.poison();
        q8_fused.poison();
        q8_sep.poison();
        QCOMPARE(kcu::paged_attention(dq.get<float>(), dpool.get(), dpos.get<int32_t>(), doff.get<int32_t>(),
                                      dtab.get<int32_t>(), o_plain.get<float>(), ws.get(), s, nullptr),
                 cudaSuccess);
        QCOMPARE(kcu::paged_attention_q8(dq.get<float>(), dpool.get(), dpos.get<int32_t>(), doff.get<int32_t>(),
                                         dtab.get<int32_t>(), o_fused.get<float>(), ws.get(), s, q8_fused.get(), nullptr),
                 cudaSuccess);
        QCOMPARE(kcu::quantize_q8_input(o_plain.get<float>(), s.n_tokens, s.n_head * hd, q8_sep.get(), nullptr),
                 cudaSuccess);
        QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
        const auto a = o_plain.floats(out_elems), b = o_fused.floats(out_elems);
        bool finite = true;
        for (float v : a) finite = finite && std::isfinite(v);
        QVERIFY2(finite && bit_equal(a, b), qPrintable(QString("hd %1 splits %2 (%3 positions): output differs")
                                                           .arg(hd).arg(splits).arg(split_positions)));
        QString where;
        QVERIFY2(same_q8(q8_fused.bytes(), q8_sep.bytes(), out_elems, &where),
                 qPrintable(QString("hd %1 splits %2 (%3 positions): %4").arg(hd).arg(splits).arg(split_positions)
                                .arg(where)));
      }
    }
    // head_dim 48 cannot be written in the q8 form (blocks would straddle heads).
    kcu::PagedAttentionShape s;
    s.kv = {1, 1, 48, 16};
    s.n_head = 1;
    s.n_tokens = 1;
    s.scale = 1.0f;
    DevBytes buf(1 << 16);
    QCOMPARE(kcu::paged_attention_q8(buf.get<float>(), buf.get(), buf.get<int32_t>(), buf.get<int32_t>(),
                                     buf.get<int32_t>(), buf.get<float>(), nullptr, s, buf.get(), nullptr),
             cudaErrorInvalidValue);
  }

  void matvec_over_q8_input_equals_matvec() {
    namespace cpu = hearth::kernels::cpu;
    for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
      for (int64_t rows : {1, 37, 1030}) {
        const int64_t cols = 2048 + 256;
        const auto rb = static_cast<size_t>(*hearth::row_bytes(t, static_cast<uint64_t>(cols)));
        std::vector<uint8_t> wbytes(rb * rows);
        for (int64_t r = 0; r < rows; ++r) {
          const auto src = random_floats(rng_, cols, 0.05f);
          QCOMPARE(cpu::quantize_row(t, src.data(), wbytes.data() + r * rb, cols), hearth::kernels::KernelStatus::kOk);
        }
        DevBytes dw(wbytes.size());
        QVERIFY(dw.put(wbytes));
        const kcu::QuantWeights w{t, dw.get(), rows, cols, false};
        QVERIFY(kcu::takes_q8_input(w));
        for (int64_t m : {1, 2, 5, 8, 13, 16, 33, 64}) {
          const auto x = random_floats(rng_, m * cols, 1.0f);
          DevBytes dx(x.size() * 4), ws(kcu::matvec_workspace_bytes(w, m)), q8(kcu::q8_input_bytes(m, cols));
          DevBytes y_ref(m * rows * 4), y_q8(m * rows * 4);
          QVERIFY(dx.put(x));
          y_ref.poison();
          y_q8.poison();
          QCOMPARE(kcu::quant_matvec(w, dx.get<float>(), m, y_ref.get<float>(), ws.get(), nullptr), cudaSuccess);
          QCOMPARE(kcu::quantize_q8_input(dx.get<float>(), m, cols, q8.get(), kcu::q8_form(t), nullptr), cudaSuccess);
          QCOMPARE(kcu::quant_matvec_q8_input(w, q8.get(), m, y_q8.get<float>(), nullptr), cudaSuccess);
          QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
          const auto a = y_ref.floats(m * rows), b = y_q8.floats(m * rows);
          bool finite = true;
          for (float v : a) finite = finite && std::isfinite(v);
          QVERIFY2(finite && bit_equal(a, b), qPrintable(QString("type %1 rows %2 m %3: quant_matvec_q8_input differs")
                                                             .arg(int(t)).arg(rows).arg(m)));
        }
      }
    }
  }

  void q8_input_misuse_returns_errors() {
    DevBytes buf(1 << 16);
    const kcu::QuantWeights f16{DType::F16, buf.get(), 4, 64, false};
    QVERIFY(!kcu::takes_q8_input(f16));
    QCOMPARE(kcu::quant_matvec_q8_input(f16, buf.get(), 1, buf.get<float>(), nullptr), cudaErrorInvalidValue);
    const kcu::QuantWeights q4{DType::Q4_0, buf.get(), 4, 64, false};
    QCOMPARE(kcu::quant_matvec_q8_input(q4, buf.get(), kcu::kMaxMatvecRows + 1, buf.get<float>(), nullptr),
             cudaErrorInvalidValue);
    QCOMPARE(kcu::quant_matvec_q8_input(q4, buf.get<uint8_t>() + 4, 1, buf.get<float>(), nullptr),
             cudaErrorInvalidValue);
    QCOMPARE(kcu::quantize_q8_input(buf.get<float>(), 1, 33, buf.get(), nullptr), cudaErrorInvalidValue);
    QCOMPARE(kcu::silu_mul_halves_q8(buf.get<float>(), buf.get<float>(), 1, 40, buf.get(), nullptr),
             cudaErrorInvalidValue);
    QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
  }

 private:
  unsigned long long seed_ = 0;
  std::mt19937_64 rng_;
};

QTEST_APPLESS_MAIN(TestCudaFusedQ8)
#include "test_cuda_fused_q8.moc"
