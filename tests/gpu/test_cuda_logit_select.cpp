// Label gpu: kernels/cuda/logit_select.h (the best k entries of each logits row) against a full
// host sort written here, on many shapes (odd vocabularies, one to 64 rows, k 1 .. 64) with ties,
// NaN, +-inf and signed zeros; fresh random inputs each run (the seed is printed), the output
// poisoned before each launch. Reports SKIP without a CUDA device. [host5]
#include <QTest>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "core/backend/cuda/cuda_entry.h"
#include "core/backend/cuda/cuda_probe.h"
#include "core/model/loaded_model.h"
#include "kernels/cuda/logit_select.h"

namespace kcu = hearth::kernels::cuda;

namespace {

bool have_device() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

uint64_t fresh_seed(const char* what) {
  const uint64_t seed = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  std::printf("%s: seed %llu\n", what, static_cast<unsigned long long>(seed));
  return seed;
}

struct DeviceBytes {
  explicit DeviceBytes(size_t n) {
    if (cudaMalloc(&p, std::max<size_t>(n, 1)) != cudaSuccess) p = nullptr;
  }
  ~DeviceBytes() {
    if (p) cudaFree(p);
  }
  void* p = nullptr;
};

// rows x n logits: normal values, with (by `special`) rounded ties, NaN, -inf, +inf, -0/+0.
std::vector<float> make_rows(std::mt19937_64& rng, int64_t rows, int64_t n, int special) {
  std::normal_distribution<float> d(0.0f, 4.0f);
  std::uniform_int_distribution<int> pick(0, 999);
  std::vector<float> v(static_cast<size_t>(rows * n));
  for (auto& x : v) {
    x = d(rng);
    const int r = pick(rng);
    if (special >= 1 && r < 200) x = std::round(x);
    if (special >= 2 && r == 200) x = std::numeric_limits<float>::quiet_NaN();
    if (special >= 2 && r == 201) x = -std::numeric_limits<float>::infinity();
    if (special >= 2 && r == 202) x = -0.0f;
    if (special >= 2 && r == 203) x = 0.0f;
    if (special >= 3 && r == 204) x = std::numeric_limits<float>::infinity();
  }
  return v;
}

// The reference: every non-NaN entry sorted (value desc, id asc; -0 == +0), the first k.
std::vector<std::pair<float, int32_t>> reference_row(const float* row, int64_t n, int k) {
  std::vector<std::pair<float, int32_t>> all;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isnan(row[i])) all.emplace_back(row[i], static_cast<int32_t>(i));
  }
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  if (static_cast<int64_t>(all.size()) > k) all.resize(static_cast<size_t>(k));
  return all;
}

// One pass both ways on the same backend (a pass rewrites the same K/V, so repeating it is
// harmless): forward_batch's whole rows, reduced on the host, must equal forward_batch_select's
// device result entry for entry, and its whole rows bit for bit.
void compare_pass(hearth::Backend& b, std::span<const hearth::SequenceSlice> seqs, const std::vector<int32_t>& ks,
                  const char* what) {
  std::vector<float> whole, full;
  std::vector<hearth::LogitCandidate> top;
  b.forward_batch(seqs, whole);
  b.forward_batch_select(seqs, ks, full, top);
  const auto V = static_cast<size_t>(b.n_vocab());
  size_t f = 0, t = 0;
  for (size_t r = 0; r < ks.size(); ++r) {
    const std::span<const float> row(whole.data() + r * V, V);
    if (ks[r] == 0) {
      QVERIFY2(f + V <= full.size() && std::memcmp(full.data() + f, row.data(), V * sizeof(float)) == 0,
               qPrintable(QString("%1: whole row %2 differs").arg(what).arg(r)));
      f += V;
      continue;
    }
    std::vector<hearth::LogitCandidate> ref(static_cast<size_t>(ks[r]));
    hearth::select_top_logits(row, ref);
    for (int32_t j = 0; j < ks[r]; ++j, ++t) {
      QVERIFY2(t < top.size() && top[t].id == ref[static_cast<size_t>(j)].id &&
                   (top[t].logit == ref[static_cast<size_t>(j)].logit || (std::isnan(top[t].logit) && std::isnan(ref[static_cast<size_t>(j)].logit))),
               qPrintable(QString("%1: row %2 entry %3: device (%4, %5), host (%6, %7)").arg(what).arg(r).arg(j)
                              .arg(t < top.size() ? top[t].id : -2).arg(t < top.size() ? top[t].logit : 0.0f)
                              .arg(ref[static_cast<size_t>(j)].id).arg(ref[static_cast<size_t>(j)].logit)));
    }
  }
  QCOMPARE(f, full.size());
  QCOMPARE(t, top.size());
}

}  // namespace

class TestCudaLogitSelect : public QObject {
  Q_OBJECT

 private slots:
  void matchesFullSort() {
    if (!have_device()) QSKIP("no CUDA device");
    std::mt19937_64 rng(fresh_seed("matchesFullSort"));
    const int64_t vocabs[] = {1, 5, 31, 64, 4095, 4096, 4097, 12289, 32000, 128256, 151936, 262144};
    const int32_t ks[] = {1, 2, 17, 40, 64};
    int cases = 0;
    for (const int64_t n : vocabs) {
      for (const int32_t k : ks) {
        const int64_t rows = std::uniform_int_distribution<int64_t>(1, n > 100000 ? 17 : 64)(rng);
        const int special = cases % 4;
        std::vector<float> host = make_rows(rng, rows, n, special);
        if (cases % 9 == 0) std::fill(host.begin(), host.begin() + n, std::numeric_limits<float>::quiet_NaN());  // a row of NaN
        if (cases % 11 == 0 && n > 100) {  // a row where many share the best value
          for (int64_t i = 0; i < n; i += 7) host[static_cast<size_t>(i)] = 100.0f;
        }
        const size_t ws_bytes = kcu::logit_select_workspace_bytes(rows, n, k);
        QVERIFY(ws_bytes > 0);
        DeviceBytes logits(host.size() * sizeof(float)), ws(ws_bytes), out(static_cast<size_t>(rows * k) * sizeof(kcu::LogitCandidate));
        QVERIFY(logits.p && ws.p && out.p);
        QCOMPARE(cudaMemcpy(logits.p, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
        QCOMPARE(cudaMemset(out.p, 0x7f, static_cast<size_t>(rows * k) * sizeof(kcu::LogitCandidate)), cudaSuccess);  // poison
        QCOMPARE(kcu::logit_select_top_k(static_cast<const float*>(logits.p), rows, n, k, ws.p, ws_bytes,
                                         static_cast<kcu::LogitCandidate*>(out.p), nullptr),
                 cudaSuccess);
        QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
        std::vector<kcu::LogitCandidate> got(static_cast<size_t>(rows * k));
        QCOMPARE(cudaMemcpy(got.data(), out.p, got.size() * sizeof(kcu::LogitCandidate), cudaMemcpyDeviceToHost), cudaSuccess);
        for (int64_t r = 0; r < rows; ++r) {
          const auto ref = reference_row(host.data() + r * n, n, k);
          for (int32_t j = 0; j < k; ++j) {
            const kcu::LogitCandidate g = got[static_cast<size_t>(r * k + j)];
            if (j < static_cast<int32_t>(ref.size())) {
              const auto [value, id] = ref[static_cast<size_t>(j)];
              QVERIFY2(g.id == id && g.logit == value,
                       qPrintable(QString("n %1 k %2 row %3 entry %4: got (%5, %6), expected (%7, %8)")
                                      .arg(n).arg(k).arg(r).arg(j).arg(g.id).arg(g.logit).arg(id).arg(value)));
            } else {
              QVERIFY2(g.id == -1 && std::isnan(g.logit),
                       qPrintable(QString("n %1 k %2 row %3 entry %4: padding expected, got (%5, %6)").arg(n).arg(k).arg(r).arg(j).arg(g.id).arg(g.logit)));
            }
          }
        }
        ++cases;
      }
    }
    std::printf("%d shapes checked\n", cases);
  }

  // The CUDA backend's forward_batch_select (device selection, and the host fallback past 64
  // rows) against its own forward_batch: prefill and decode passes, with and without graphs, k
  // per row mixed with whole rows. Model: HEARTH_SYNTH_MODEL when set, else stories260K.
  void backendSelectsLikeWholeRows() {
    if (!hearth::cuda_backend_compiled()) QSKIP("this build has no CUDA");
    if (hearth::nvidia_gpu_name_without_cuda().empty() || !have_device()) QSKIP("no CUDA device");
    const char* env = std::getenv("HEARTH_SYNTH_MODEL");
    const std::string path = env && *env ? env : HEARTH_SOURCE_DIR "/resources/models/stories260K.gguf";
    auto model = hearth::LoadedModel::open(path);
    std::mt19937_64 rng(fresh_seed("backendSelectsLikeWholeRows"));
    for (const bool graphs : {true, false}) {
      hearth::CudaBackendOptions o;
      o.context_size = 64;
      o.cuda_graphs = graphs;
      o.kv_blocks = 160;
      auto b = hearth::create_cuda_backend(model->config(), model->weights(), o);
      const int bt = static_cast<int>(b->kv_geometry().block_tokens);
      const int64_t V = b->n_vocab();
      std::uniform_int_distribution<int32_t> token(3, static_cast<int32_t>(V - 1));
      for (const int n_seqs : {4, 16, 70}) {  // 70 rows: more than the device path takes
        std::vector<std::vector<hearth::TokenId>> prompts(static_cast<size_t>(n_seqs));
        std::vector<std::vector<int32_t>> tables(static_cast<size_t>(n_seqs));
        for (int i = 0; i < n_seqs; ++i) {
          for (int j = 0; j < 6; ++j) prompts[static_cast<size_t>(i)].push_back(token(rng));
          for (int j = 0; j < (8 + bt - 1) / bt; ++j) tables[static_cast<size_t>(i)].push_back(2 * i + j);
        }
        std::vector<int32_t> ks;
        for (int i = 0; i < n_seqs; ++i) ks.push_back(std::array<int32_t, 5>{1, 40, 0, 64, 7}[static_cast<size_t>(i % 5)]);
        std::vector<hearth::SequenceSlice> prefill, decode;
        for (int i = 0; i < n_seqs; ++i) {
          const auto& p = prompts[static_cast<size_t>(i)];
          prefill.push_back({std::span<const hearth::TokenId>(p).first(5), 0, tables[static_cast<size_t>(i)], 1});
          decode.push_back({std::span<const hearth::TokenId>(p).subspan(5, 1), 5, tables[static_cast<size_t>(i)], 1});
        }
        const QByteArray what = QString("%1 seqs, graphs %2").arg(n_seqs).arg(graphs).toUtf8();
        compare_pass(*b, prefill, ks, (what + " prefill").constData());
        if (QTest::currentTestFailed()) return;
        compare_pass(*b, decode, ks, (what + " decode").constData());
        if (QTest::currentTestFailed()) return;
      }
    }
  }

  void refusesWhatItCannotDo() {
    QCOMPARE(kcu::logit_select_workspace_bytes(4, 1000, 0), size_t{0});
    QCOMPARE(kcu::logit_select_workspace_bytes(4, 1000, kcu::kLogitSelectMaxK + 1), size_t{0});
    QCOMPARE(kcu::logit_select_workspace_bytes(4, 262145, 64), size_t{0});
    QVERIFY(kcu::logit_select_workspace_bytes(4, 262145, 32) > 0);
    if (!have_device()) QSKIP("no CUDA device");
    QCOMPARE(kcu::logit_select_top_k(nullptr, 4, 1000, 0, nullptr, 0, nullptr, nullptr), cudaErrorInvalidValue);
    DeviceBytes ws(16);
    QCOMPARE(kcu::logit_select_top_k(nullptr, 4, 128256, 40, ws.p, 16, nullptr, nullptr), cudaErrorInvalidValue);
  }

  // Not a test of speed (no threshold): prints the time of a 16-row decode step's selection next
  // to the whole-row copy it replaces.
  void timing() {
    if (!have_device()) QSKIP("no CUDA device");
    const int64_t rows = 16, n = 128256;
    std::mt19937_64 rng(7);
    const std::vector<float> host = make_rows(rng, rows, n, 1);
    DeviceBytes logits(host.size() * sizeof(float)), out(rows * 64 * sizeof(kcu::LogitCandidate));
    QCOMPARE(cudaMemcpy(logits.p, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
    float* pinned = nullptr;
    QCOMPARE(cudaMallocHost(reinterpret_cast<void**>(&pinned), host.size() * sizeof(float)), cudaSuccess);
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    for (const int32_t k : {1, 40, 64}) {
      const size_t ws_bytes = kcu::logit_select_workspace_bytes(rows, n, k);
      DeviceBytes ws(ws_bytes);
      for (int rep = 0; rep < 3; ++rep) {
        cudaEventRecord(a);
        QCOMPARE(kcu::logit_select_top_k(static_cast<const float*>(logits.p), rows, n, k, ws.p, ws_bytes,
                                         static_cast<kcu::LogitCandidate*>(out.p), nullptr),
                 cudaSuccess);
        cudaEventRecord(b);
        cudaEventSynchronize(b);
      }
      float ms = 0;
      cudaEventElapsedTime(&ms, a, b);
      std::printf("select k=%d over %lld x %lld: %.1f us\n", k, static_cast<long long>(rows), static_cast<long long>(n), 1000.0 * ms);
    }
    cudaEventRecord(a);
    QCOMPARE(cudaMemcpy(pinned, logits.p, host.size() * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<float> copy(pinned, pinned + host.size());
    const double memcpy_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("whole rows: device->pinned copy %.1f us, pinned->vector copy %.1f us (%zu MB)\n", 1000.0 * ms,
                1000.0 * memcpy_ms, host.size() * sizeof(float) >> 20);
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    cudaFreeHost(pinned);
  }
};

QTEST_APPLESS_MAIN(TestCudaLogitSelect)
#include "test_cuda_logit_select.moc"
