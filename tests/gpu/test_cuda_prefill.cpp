// Label gpu: the prefill kernels of helper pre4 against float64 host references, fresh random
// inputs each run (the seed is printed; HEARTH_TEST_SEED=<n> repeats a run), outputs poisoned with
// NaN before each launch:
//  - prefill_attention (kernels/cuda/prefill_attention.h): causal GQA attention of a chunk of new
//    tokens over the paged F16 KV pool: chunks at offset 0 and after 2,000+ cached positions,
//    odd lengths, several sequences (and block tables) in one batch, head_dim 64 / 128, GQA groups
//    1 / 4 / 8, position splits 1 / 3 / 16. FP16 Q and P on tensor cores: |err| <= 6e-3 (outputs
//    are O(1); a wrong mask, table or tile shows as errors of 1e-2 .. 1).
//  - quant_gemm's tile plan (kernels/cuda/quant_gemm_tiles.h): the plan's invariants (no device
//    needed), and products split into row tiles and accumulated column slices (small budgets force
//    both) against float64 for every quantized type.
// Reports SKIP for the device parts without a CUDA device.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <QTest>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/dtype.h"
#include "kernels/cpu/quant.h"
#include "kernels/cuda/prefill_attention.h"
#include "kernels/cuda/quant_gemm_tiles.h"
#include "kernels/cuda/quant_matmul.h"

using hearth::DType;
namespace kc = hearth::kernels::cuda;
namespace cpu = hearth::kernels::cpu;

namespace {

bool cuda_device_present() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

uint64_t test_seed() {
  if (const char* s = std::getenv("HEARTH_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  return std::random_device{}() * 0x100000001ull ^ std::random_device{}();
}

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
  bool put(const std::vector<T>& v) {
    return p_ && cudaMemcpy(p_, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess;
  }
  std::vector<T> take() const {
    std::vector<T> v(n_);
    if (!p_ || cudaMemcpy(v.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost) != cudaSuccess) v.clear();
    return v;
  }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

// One sequence of a batch: n_past cached positions, n_new new tokens, its physical blocks.
struct TestSeq {
  int64_t n_past = 0, n_new = 0;
  std::vector<int32_t> table;
};

struct AttentionCase {
  int64_t n_head, n_kv_head, head_dim, block_tokens;
};

}  // namespace

class TestCudaPrefill : public QObject {
  Q_OBJECT

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  bool device_ = false;

  // Sequences with random, distinct physical blocks out of a pool of n_blocks.
  std::vector<TestSeq> make_seqs(const std::vector<std::pair<int64_t, int64_t>>& shape, int64_t bt, int64_t n_blocks) {
    std::vector<int32_t> free(static_cast<size_t>(n_blocks));
    std::iota(free.begin(), free.end(), 0);
    std::shuffle(free.begin(), free.end(), rng_);
    std::vector<TestSeq> seqs;
    size_t next = 0;
    for (const auto& [past, n_new] : shape) {
      TestSeq s{past, n_new, {}};
      for (int64_t b = 0; b < (past + n_new + bt - 1) / bt; ++b) s.table.push_back(free.at(next++));
      seqs.push_back(s);
    }
    return seqs;
  }

  // Returns an empty string or what went wrong.
  std::string run_attention_case(const AttentionCase& c, const std::vector<std::pair<int64_t, int64_t>>& shape,
                                 int n_splits) {
    const int64_t n_layer = 2, layer = static_cast<int64_t>(rng_() % n_layer);
    const int64_t bt = c.block_tokens, hd = c.head_dim, G = c.n_head / c.n_kv_head;
    int64_t blocks_needed = 0, max_blocks = 0;
    for (const auto& [p, n] : shape) {
      blocks_needed += (p + n + bt - 1) / bt;
      max_blocks = std::max(max_blocks, (p + n + bt - 1) / bt);
    }
    const int64_t n_blocks = blocks_needed + 3;
    const auto seqs = make_seqs(shape, bt, n_blocks);
    std::vector<int32_t> positions, offsets, tables(seqs.size() * max_blocks, -1);
    for (size_t s = 0; s < seqs.size(); ++s) {
      std::copy(seqs[s].table.begin(), seqs[s].table.end(), tables.begin() + static_cast<int64_t>(s) * max_blocks);
      for (int64_t i = 0; i < seqs[s].n_new; ++i) {
        positions.push_back(static_cast<int32_t>(seqs[s].n_past + i));
        offsets.push_back(static_cast<int32_t>(static_cast<int64_t>(s) * max_blocks));
      }
    }
    const int64_t n = static_cast<int64_t>(positions.size());
    const kc::PagedKvLayout kv{n_layer, c.n_kv_head, hd, bt};
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<uint16_t> pool(static_cast<size_t>(n_blocks * kv.block_elements()));
    std::vector<double> pool64(pool.size());
    for (size_t i = 0; i < pool.size(); ++i) {
      pool[i] = cpu::fp32_to_fp16(nd(rng_));
      pool64[i] = cpu::fp16_to_fp32(pool[i]);
    }
    std::vector<float> q(static_cast<size_t>(n * c.n_head * hd));
    for (auto& x : q) x = 1.0f * nd(rng_);
    const double scale = 1.0 / std::sqrt(static_cast<double>(hd));

    std::vector<double> ref(q.size());
    std::vector<double> sc;
    for (int64_t t = 0; t < n; ++t) {
      const int32_t* table = tables.data() + offsets[t];
      const int64_t len = positions[t] + 1;
      for (int64_t h = 0; h < c.n_head; ++h) {
        const int64_t kvh = h / G;
        sc.assign(static_cast<size_t>(len), 0.0);
        double m = -INFINITY;
        for (int64_t j = 0; j < len; ++j) {
          const double* k = pool64.data() + table[j / bt] * kv.block_elements() + kv.kv_offset(layer, 0, kvh) + (j % bt) * hd;
          double dot = 0;
          for (int64_t d = 0; d < hd; ++d) dot += static_cast<double>(q[(t * c.n_head + h) * hd + d]) * k[d];
          sc[j] = dot * scale;
          m = std::max(m, sc[j]);
        }
        double l = 0;
        for (auto& x : sc) l += (x = std::exp(x - m));
        double* o = ref.data() + (t * c.n_head + h) * hd;
        for (int64_t j = 0; j < len; ++j) {
          const double* v = pool64.data() + table[j / bt] * kv.block_elements() + kv.kv_offset(layer, 1, kvh) + (j % bt) * hd;
          for (int64_t d = 0; d < hd; ++d) o[d] += sc[j] * v[d];
        }
        for (int64_t d = 0; d < hd; ++d) o[d] /= l;
      }
    }

    kc::PagedAttentionShape s;
    s.n_tokens = n;
    s.n_head = c.n_head;
    s.layer = layer;
    s.kv = kv;
    s.scale = static_cast<float>(scale);
    s.n_splits = n_splits;
    Dev<float> dq(q), dout(std::vector<float>(q.size(), std::numeric_limits<float>::quiet_NaN()));
    Dev<uint16_t> dpool(pool);
    Dev<int32_t> dpos(positions), doff(offsets), dtab(tables);
    Dev<uint8_t> ws(std::max<size_t>(kc::prefill_attention_workspace_bytes(s), 1));
    if (!dq.get() || !dout.get() || !dpool.get() || !dpos.get() || !doff.get() || !dtab.get() || !ws.get()) {
      return "device allocation failed";
    }
    cudaError_t e = kc::prefill_attention(dq.get(), dpool.get(), dpos.get(), doff.get(), dtab.get(), dout.get(),
                                          ws.get(), s, nullptr);
    if (e == cudaSuccess) e = cudaDeviceSynchronize();
    if (e != cudaSuccess) return std::string("kernel error: ") + cudaGetErrorString(e);
    const auto got = dout.take();
    if (got.size() != ref.size()) return "download failed";
    double worst = 0;
    size_t worst_at = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const double err = std::isfinite(got[i]) ? std::fabs(got[i] - ref[i]) : INFINITY;
      if (err > worst) {
        worst = err;
        worst_at = i;
      }
    }
    worst_attention_ = std::max(worst_attention_, worst);
    if (worst <= 6e-3) return {};
    const int64_t token = static_cast<int64_t>(worst_at) / (c.n_head * hd);
    return "heads " + std::to_string(c.n_head) + "/" + std::to_string(c.n_kv_head) + " hd " + std::to_string(hd) +
           " bt " + std::to_string(bt) + " tokens " + std::to_string(n) + " splits " + std::to_string(n_splits) +
           ": max |err| " + std::to_string(worst) + " at token " + std::to_string(token) + " (position " +
           std::to_string(positions[token]) + "), got " + std::to_string(got[worst_at]) + " want " +
           std::to_string(ref[worst_at]);
  }

  double worst_attention_ = 0;

 private slots:
  void initTestCase() {
    seed_ = test_seed();
    rng_.seed(seed_);
    qInfo("seed %llu (HEARTH_TEST_SEED=%llu repeats this run)", static_cast<unsigned long long>(seed_),
          static_cast<unsigned long long>(seed_));
    device_ = cuda_device_present();
  }

  void prefill_attention_matches_float64() {
    if (!device_) QSKIP("no CUDA device");
    // (cached positions, new tokens) per sequence of a batch
    const std::vector<std::vector<std::pair<int64_t, int64_t>>> batches = {
        {{0, 1}},                                // a single token
        {{0, 70}},                               // a prompt: causal mask across K/V tiles
        {{0, 129}},                              // odd length, token tiles end mid-tile
        {{2000, 48}},                            // chunked prefill after a long cached prefix
        {{2113, 67}},                            // odd offset and length
        {{33, 5}, {0, 19}, {129, 2}, {700, 40}}, // several sequences (and tables) in one batch
    };
    for (const AttentionCase c : {AttentionCase{32, 8, 128, 16}, AttentionCase{32, 8, 64, 16},
                                  AttentionCase{8, 8, 128, 16}, AttentionCase{16, 2, 64, 32},
                                  AttentionCase{4, 1, 128, 8}}) {
      for (const auto& batch : batches) {
        for (int splits : {1, 3, 16}) {
          const std::string err = run_attention_case(c, batch, splits);
          QVERIFY2(err.empty(), err.c_str());
        }
      }
    }
    qInfo("prefill_attention: worst |err| %.3g", worst_attention_);
  }

  void prefill_attention_rejects_what_it_does_not_run() {
    kc::PagedAttentionShape s;
    s.n_tokens = 4;
    s.n_head = 9;
    s.kv = {1, 3, 128, 16};  // G = 3 does not divide 64
    s.scale = 0.1f;
    QVERIFY(!kc::prefill_attention_supported(s));
    s.n_head = 8;
    s.kv.n_kv_head = 2;
    QVERIFY(kc::prefill_attention_supported(s));
    s.kv.head_dim = 80;
    QVERIFY(!kc::prefill_attention_supported(s));
    s.kv.head_dim = 64;
    s.n_splits = 2;
    QVERIFY(kc::prefill_attention_workspace_bytes(s) == size_t{4} * 8 * 2 * 66 * sizeof(float));
    // Few tokens over a long context split; a full device or a short context does not.
    s.n_tokens = 48;
    s.n_splits = 1;
    QVERIFY(kc::prefill_attention_splits(s, 2048, 132, size_t{1} << 30) > 1);
    QCOMPARE(kc::prefill_attention_splits(s, 2048, 132, 0), 1);
    QCOMPARE(kc::prefill_attention_splits(s, 60, 132, size_t{1} << 30), 1);
    s.n_tokens = 4096;
    QCOMPARE(kc::prefill_attention_splits(s, 4096, 132, size_t{1} << 30), 1);
    if (!device_) return;
    s.n_tokens = 4;
    s.kv.head_dim = 80;
    Dev<float> buf(4096);
    QCOMPARE(kc::prefill_attention(buf.get(), buf.get(), reinterpret_cast<int32_t*>(buf.get()),
                                   reinterpret_cast<int32_t*>(buf.get()), reinterpret_cast<int32_t*>(buf.get()),
                                   buf.get(), nullptr, s, nullptr),
             cudaErrorInvalidValue);
  }

  // Timings for the record (no assertion): llama-3.1-8b attention of one layer, chunks of new
  // tokens after a cached prefix, prefill_attention (with its chosen splits) vs paged_attention.
  void prefill_attention_timings() {
    if (!device_) QSKIP("no CUDA device");
    int sm_count = 0;
    QCOMPARE(cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, 0), cudaSuccess);
    const kc::PagedKvLayout kv{1, 8, 128, 16};
    const int64_t max_positions = 4608, n_blocks = max_positions / 16;
    std::vector<uint16_t> pool(static_cast<size_t>(n_blocks * kv.block_elements()));
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (auto& x : pool) x = cpu::fp32_to_fp16(nd(rng_));
    std::vector<int32_t> table(static_cast<size_t>(n_blocks));
    std::iota(table.begin(), table.end(), 0);
    std::shuffle(table.begin(), table.end(), rng_);
    Dev<uint16_t> dpool(pool);
    Dev<int32_t> dtab(table);
    Dev<float> dq(static_cast<size_t>(512 * 32 * 128)), dout(static_cast<size_t>(512 * 32 * 128));
    Dev<uint8_t> ws(size_t{64} << 20);
    for (const auto& [past, n] : std::vector<std::pair<int64_t, int64_t>>{{0, 512}, {2000, 48}, {2000, 128}, {2000, 512}, {4000, 512}}) {
      std::vector<int32_t> positions(static_cast<size_t>(n)), offsets(static_cast<size_t>(n), 0);
      std::iota(positions.begin(), positions.end(), static_cast<int32_t>(past));
      Dev<int32_t> dpos(positions), doff(offsets);
      kc::PagedAttentionShape s;
      s.n_tokens = n;
      s.n_head = 32;
      s.kv = kv;
      s.scale = 1.0f / std::sqrt(128.0f);
      s.n_splits = kc::prefill_attention_splits(s, past + n, sm_count, size_t{64} << 20);
      kc::PagedAttentionShape old = s;
      old.n_splits = 1;
      const auto time_us = [&](auto&& launch) {
        cudaEvent_t a, b;
        cudaEventCreate(&a);
        cudaEventCreate(&b);
        launch();
        cudaEventRecord(a);
        for (int i = 0; i < 20; ++i) launch();
        cudaEventRecord(b);
        cudaEventSynchronize(b);
        float ms = 0;
        cudaEventElapsedTime(&ms, a, b);
        cudaEventDestroy(a);
        cudaEventDestroy(b);
        return 1000.0 * ms / 20;
      };
      const double fa = time_us([&] {
        (void)kc::prefill_attention(dq.get(), dpool.get(), dpos.get(), doff.get(), dtab.get(), dout.get(), ws.get(), s, nullptr);
      });
      const double pa = time_us([&] {
        (void)kc::paged_attention(dq.get(), dpool.get(), dpos.get(), doff.get(), dtab.get(), dout.get(), ws.get(), old, nullptr);
      });
      QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
      const double flop = 4.0 * 32 * 128 * static_cast<double>(n) * (static_cast<double>(past) + (n + 1) / 2.0);
      qInfo("8B layer, %4lld new after %4lld cached: prefill_attention %7.1f us (%d splits, %5.1f TFLOP/s), "
            "paged_attention %8.1f us", static_cast<long long>(n), static_cast<long long>(past), fa, s.n_splits,
            flop / (fa * 1e6), pa);
    }
  }

  // Timings for the record (no assertion): quant_gemm at m = 512 on llama-3.1-8b matrices for
  // several tile budgets (small tiles can stay in L2 between the dequantization and the GEMM).
  void gemm_tile_budget_timings() {
    if (!device_) QSKIP("no CUDA device");
    cublasHandle_t cublas = nullptr;
    QCOMPARE(cublasCreate(&cublas), CUBLAS_STATUS_SUCCESS);
    const int64_t m = 512;
    Dev<float> x(static_cast<size_t>(m * 14336)), y(static_cast<size_t>(m * 28672));
    QCOMPARE(cudaMemset(x.get(), 0, m * 14336 * sizeof(float)), cudaSuccess);
    struct Shape {
      const char* name;
      DType type;
      int64_t rows, cols;
    };
    for (const Shape sh : {Shape{"q|k|v", DType::Q4_K, 6144, 4096}, Shape{"gate|up", DType::Q4_K, 28672, 4096},
                           Shape{"down q4_K", DType::Q4_K, 4096, 14336}, Shape{"down q6_K", DType::Q6_K, 4096, 14336}}) {
      const uint64_t bytes = *hearth::row_bytes(sh.type, static_cast<uint64_t>(sh.cols)) * sh.rows;
      Dev<uint8_t> w(bytes);
      QCOMPARE(cudaMemset(w.get(), 0x11, bytes), cudaSuccess);
      const kc::QuantWeights qw{sh.type, w.get(), sh.rows, sh.cols, false};
      std::string line;
      for (int64_t budget : {int64_t{4} << 20, int64_t{8} << 20, int64_t{16} << 20, int64_t{32} << 20, int64_t{64} << 20}) {
        Dev<uint8_t> ws(kc::gemm_workspace_bytes_tiled(qw, m, budget));
        const auto run = [&] { return kc::quant_gemm_tiled(qw, x.get(), m, y.get(), ws.get(), cublas, nullptr, budget); };
        QCOMPARE(run(), cudaSuccess);
        cudaEvent_t a, b;
        cudaEventCreate(&a);
        cudaEventCreate(&b);
        cudaEventRecord(a);
        for (int i = 0; i < 10; ++i) (void)run();
        cudaEventRecord(b);
        QCOMPARE(cudaEventSynchronize(b), cudaSuccess);
        float ms = 0;
        cudaEventElapsedTime(&ms, a, b);
        cudaEventDestroy(a);
        cudaEventDestroy(b);
        const double us = 100.0 * ms;
        const kc::GemmTilePlan p = kc::gemm_tile_plan(sh.rows, sh.cols, budget);
        char cell[96];
        std::snprintf(cell, sizeof cell, " | %lldM %lldx%lld %6.1f us %4.0f TF", static_cast<long long>(budget >> 20),
                      static_cast<long long>(p.rows), static_cast<long long>(p.cols), us,
                      2.0 * sh.rows * sh.cols * m / (us * 1e6));
        line += cell;
      }
      qInfo("gemm m=512 %-9s %5lld x %-5lld%s", sh.name, static_cast<long long>(sh.rows), static_cast<long long>(sh.cols),
            line.c_str());
    }
    cublasDestroy(cublas);
  }

  // The plan's invariants, and the shapes of llama-3.1-8b / 3.2-1b.
  void gemm_tile_plan_keeps_rows_and_slices_columns() {
    for (int64_t budget : {int64_t{1} << 20, kc::kGemmTileElements, int64_t{16} << 20}) {
      for (int64_t rows : {1, 300, 4095, 4096, 5000, 14336, 28672, 128256}) {
        for (int64_t cols : {256, 2048, 4096, 8192, 14336, 65536}) {
          const kc::GemmTilePlan p = kc::gemm_tile_plan(rows, cols, budget);
          const std::string what = std::to_string(rows) + " x " + std::to_string(cols) + " budget " + std::to_string(budget);
          QVERIFY2(p.rows >= 1 && p.rows <= rows && p.cols >= 1 && p.cols <= cols, what.c_str());
          QVERIFY2(p.rows * p.cols <= budget, what.c_str());
          QVERIFY2(p.cols == cols || p.cols % 256 == 0, what.c_str());
          QVERIFY2(p.rows >= std::min<int64_t>(rows, 4096) || p.cols == 256, what.c_str());
        }
      }
    }
    const auto plan = [](int64_t r, int64_t c) { return kc::gemm_tile_plan(r, c); };
    QCOMPARE(plan(4096, 14336).rows, int64_t{4096});  // 8B ffn_down: whole output rows, column slices
    QCOMPARE(plan(4096, 14336).cols, int64_t{8192});
    QCOMPARE(plan(28672, 4096).rows, int64_t{8192});  // 8B gate|up: row tiles of whole rows
    QCOMPARE(plan(28672, 4096).cols, int64_t{4096});
    QCOMPARE(plan(6144, 4096).rows, int64_t{6144});   // 8B q|k|v: one tile
    QCOMPARE(plan(16384, 2048).rows, int64_t{16384}); // 1B gate|up: one tile
  }

  // Products over row tiles and accumulated column slices vs float64, every quantized type.
  void gemm_over_row_tiles_and_column_slices_matches_float64() {
    if (!device_) QSKIP("no CUDA device");
    cublasHandle_t cublas = nullptr;
    QCOMPARE(cublasCreate(&cublas), CUBLAS_STATUS_SUCCESS);
    struct Case {
      int64_t rows, cols, budget, m;
    };
    // (4500 x 512, budget 1M) -> 4096-row tiles x 256-column slices; (300 x 1280, 32K) -> slices
    // only (512, 512, 256); (4500 x 256, 1M) -> row tiles only.
    // m > kc::kMaxMatvecRows (64): smaller m goes to the int8 matvec, not the tiled GEMM. [mv5]
    for (const Case c : {Case{4500, 512, 1 << 20, 69}, Case{300, 1280, 160000, 80}, Case{4500, 256, 1 << 20, 65}}) {
      for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
        const std::string err = check_gemm(cublas, t, c.rows, c.cols, c.budget, c.m);
        QVERIFY2(err.empty(), err.c_str());
      }
    }
    cublasDestroy(cublas);
  }

 private:
  std::string check_gemm(cublasHandle_t cublas, DType t, int64_t rows, int64_t cols, int64_t budget, int64_t m) {
    const uint64_t rb = *hearth::row_bytes(t, static_cast<uint64_t>(cols));
    std::vector<uint8_t> bytes(rb * rows);
    std::vector<double> w(static_cast<size_t>(rows * cols));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> src(cols), back(cols);
    for (int64_t r = 0; r < rows; ++r) {
      for (auto& v : src) v = normal(rng_);
      if (cpu::quantize_row(t, src.data(), bytes.data() + r * rb, cols) != hearth::kernels::KernelStatus::kOk ||
          cpu::dequantize_row(t, bytes.data() + r * rb, back.data(), cols) != hearth::kernels::KernelStatus::kOk) {
        return "host quantization failed";
      }
      std::copy(back.begin(), back.end(), w.begin() + r * cols);
    }
    std::vector<float> x(static_cast<size_t>(m * cols));
    for (auto& v : x) v = normal(rng_);
    const kc::QuantWeights qw{t, nullptr, rows, cols, false};
    Dev<uint8_t> dw(bytes);
    Dev<float> dx(x), dy(std::vector<float>(static_cast<size_t>(m * rows), std::numeric_limits<float>::quiet_NaN()));
    Dev<uint8_t> ws(kc::gemm_workspace_bytes_tiled(qw, m, budget));
    if (!dw.get() || !dx.get() || !dy.get() || !ws.get()) return "device allocation failed";
    kc::QuantWeights dev_w = qw;
    dev_w.data = dw.get();
    cudaError_t e = kc::quant_gemm_tiled(dev_w, dx.get(), m, dy.get(), ws.get(), cublas, nullptr, budget);
    if (e == cudaSuccess) e = cudaDeviceSynchronize();
    if (e != cudaSuccess) return std::string("kernel error: ") + cudaGetErrorString(e);
    const auto y = dy.take();
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t r = 0; r < rows; ++r) {
        double ref = 0, mag = 0;
        for (int64_t c = 0; c < cols; ++c) {
          ref += w[r * cols + c] * x[i * cols + c];
          mag += std::fabs(w[r * cols + c] * x[i * cols + c]);
        }
        const double got = y[i * rows + r];
        if (!std::isfinite(got) || std::fabs(got - ref) > 2e-3 * mag + 1e-6) {
          return std::string(hearth::dtype_name(t)) + " " + std::to_string(rows) + " x " + std::to_string(cols) +
                 " budget " + std::to_string(budget) + ": y[" + std::to_string(i) + "," + std::to_string(r) + "] = " +
                 std::to_string(got) + ", reference " + std::to_string(ref);
        }
      }
    }
    return {};
  }
};

QTEST_APPLESS_MAIN(TestCudaPrefill)
#include "test_cuda_prefill.moc"
