// Label gpu: partial offload (layer_range.h). A CUDA backend built for a range of layers against
// the CPU backend (an independent implementation) on stories260K:
// - the first k layers on the GPU and the rest on the CPU (and the reverse: the CPU first, the GPU
//   with the output head last): 120 greedy tokens identical to the whole-model CPU path, with and
//   without CUDA graphs, for every split point k;
// - the residual stream a GPU range hands on is close to the CPU range's (same layers);
// - several sequences in one pass, at different positions, equal the same sequences run alone;
// - the range's KV blocks hold its own layers only; a partial backend refuses forward_batch and a
//   hidden input of the wrong size, and stays usable after the error; an empty or outside range
//   is refused at construction.
// The CPU results are computed before CUDA is initialized (see probe_cuda()). Reports SKIP without
// CUDA in the build or a GPU.
#include <QTest>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cuda/cuda_entry.h"
#include "core/backend/cuda/cuda_probe.h"
#include "core/common/error.h"
#include "core/model/loaded_model.h"
#include "tests/gpu/greedy_support.h"

using namespace hearth;

namespace {

const char* kStories = HEARTH_SOURCE_DIR "/resources/models/stories260K.gguf";
constexpr int kGreedyTokens = 120;
constexpr int64_t kContext = 256;

using test::argmax;

// Two backends computing layers [0, k) and [k, n_layer) of one model, run one after the other over
// one sequence in blocks 0, 1, 2, ... (the way LayerSplitBackend joins them, written out here so the
// test depends on the two stages only).
class TwoStages {
 public:
  TwoStages(Backend& front, Backend& back) : front_(front), back_(back) {}

  // Logits of the last new token.
  const std::vector<float>& step(std::span<const TokenId> tokens) {
    const int64_t bt = front_.kv_geometry().block_tokens;
    table_.resize(static_cast<size_t>((n_past_ + static_cast<int64_t>(tokens.size()) + bt - 1) / bt));
    std::iota(table_.begin(), table_.end(), 0);
    const SequenceSlice s{tokens, n_past_, table_, 1};
    front_.forward_stage({&s, 1}, {}, hidden_);
    back_.forward_stage({&s, 1}, hidden_, logits_);
    n_past_ += static_cast<int64_t>(tokens.size());
    return logits_;
  }

  std::vector<TokenId> greedy(const std::vector<TokenId>& prompt, int n) {
    std::vector<TokenId> out;
    const std::vector<float>* logits = &step(prompt);
    for (int i = 0; i < n; ++i) {
      const TokenId t = argmax(logits->data(), back_.n_vocab());
      out.push_back(t);
      const TokenId in[1] = {t};
      if (i + 1 < n) logits = &step(in);
    }
    return out;
  }

 private:
  Backend& front_;
  Backend& back_;
  int64_t n_past_ = 0;
  std::vector<int32_t> table_;
  std::vector<float> hidden_, logits_;
};

int first_difference(const std::vector<TokenId>& a, const std::vector<TokenId>& b) {
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i] != b[i]) return static_cast<int>(i);
  }
  return a.size() == b.size() ? -1 : static_cast<int>(std::min(a.size(), b.size()));
}

CpuBackendOptions cpu_range(int64_t begin, int64_t end) {
  CpuBackendOptions o;
  o.n_threads = 4;
  o.context_size = kContext;
  o.layers = {begin, end};
  return o;
}

std::unique_ptr<Backend> cuda_range(const LoadedModel& m, int64_t begin, int64_t end, bool graphs = true) {
  CudaBackendOptions o;
  o.context_size = kContext;
  o.cuda_graphs = graphs;
  o.layers = {begin, end};
  return create_cuda_backend(m.config(), m.weights(), o);
}

}  // namespace

class TestCudaPartialOffload : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    if (!cuda_backend_compiled()) QSKIP("this build has no CUDA");
    if (nvidia_gpu_name_without_cuda().empty()) QSKIP("no NVIDIA GPU");
    // CPU references first, before anything initializes CUDA.
    model_ = LoadedModel::open(kStories);
    n_layer_ = model_->config().n_layer;
    prompt_ = model_->tokenizer().encode("Once upon a time", true, false);
    {
      CpuBackend cpu(model_->config(), model_->weights(), cpu_range(0, -1));
      cpu_greedy_ = test::greedy(cpu, prompt_, kGreedyTokens);
    }
    const auto probe = probe_cuda();
    if (probe.device_count == 0) QSKIP(qPrintable(QString::fromStdString("no CUDA device: " + probe.message)));
    qInfo("device: %s, stories260K has %lld layers", probe.first_device_name.c_str(),
          static_cast<long long>(n_layer_));
  }

  void gpu_first_layers_then_cpu_match_cpu() {
    for (int64_t k = 1; k < n_layer_; ++k) {
      for (bool graphs : {true, false}) {
        auto gpu = cuda_range(*model_, 0, k, graphs);
        CpuBackend cpu(model_->config(), model_->weights(), cpu_range(k, -1));
        QCOMPARE(gpu->kv_geometry().n_layer, k);
        QCOMPARE(cpu.kv_geometry().n_layer, n_layer_ - k);
        TwoStages split(*gpu, cpu);
        const auto tokens = split.greedy(prompt_, kGreedyTokens);
        const int diff = first_difference(tokens, cpu_greedy_);
        QVERIFY2(diff < 0, qPrintable(QString("GPU layers 0..%1, graphs %2: first differing token at %3 of %4")
                                          .arg(k - 1).arg(graphs).arg(diff).arg(kGreedyTokens)));
        if (graphs) QVERIFY2(cuda_backend_info(*gpu)->graph_replays > 0, "decode steps did not use CUDA graphs");
      }
    }
  }

  void cpu_first_layers_then_gpu_match_cpu() {
    for (int64_t k = 1; k < n_layer_; ++k) {
      CpuBackend cpu(model_->config(), model_->weights(), cpu_range(0, k));
      auto gpu = cuda_range(*model_, k, -1);
      TwoStages split(cpu, *gpu);
      const auto tokens = split.greedy(prompt_, kGreedyTokens);
      const int diff = first_difference(tokens, cpu_greedy_);
      QVERIFY2(diff < 0, qPrintable(QString("CPU layers 0..%1, GPU the rest: first differing token at %2 of %3")
                                        .arg(k - 1).arg(diff).arg(kGreedyTokens)));
    }
  }

  // The residual stream after the same layers on the two devices: close (the GPU's decode products
  // quantize activations as the CPU does; prefill rounds them to FP16).
  void hidden_state_close_to_cpu() {
    const int64_t k = n_layer_ / 2 > 0 ? n_layer_ / 2 : 1;
    std::vector<TokenId> seq = prompt_;
    seq.insert(seq.end(), cpu_greedy_.begin(), cpu_greedy_.begin() + 40);
    std::vector<int32_t> table(static_cast<size_t>((seq.size() + 15) / 16));
    std::iota(table.begin(), table.end(), 0);
    const SequenceSlice s{seq, 0, table, 0};
    std::vector<float> a, b;
    CpuBackend cpu(model_->config(), model_->weights(), cpu_range(0, k));
    cpu.forward_stage({&s, 1}, {}, a);
    auto gpu = cuda_range(*model_, 0, k);
    gpu->forward_stage({&s, 1}, {}, b);
    QCOMPARE(b.size(), seq.size() * static_cast<size_t>(model_->config().n_embd));
    QCOMPARE(a.size(), b.size());
    double worst = 0, rms = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      QVERIFY2(std::isfinite(b[i]), "non-finite hidden value from the GPU range");
      worst = std::max(worst, double(std::abs(a[i] - b[i])));
      rms += double(a[i]) * double(a[i]);
    }
    rms = std::sqrt(rms / double(a.size()));
    qInfo("hidden state after %lld layers: max |GPU - CPU| %.3g, RMS of the CPU's %.3g", static_cast<long long>(k),
          worst, rms);
    QVERIFY2(worst < 0.02 * rms + 1e-3, qPrintable(QString("max difference %1 vs RMS %2").arg(worst).arg(rms)));
  }

  // Three sequences in one pass (one continuing after 20 cached positions), each equal to the same
  // sequence alone: the hidden rows come back in token order.
  void batch_equals_single() {
    const int64_t k = 1;
    auto gpu = cuda_range(*model_, 0, k);
    CpuBackend cpu(model_->config(), model_->weights(), cpu_range(k, -1));
    const std::vector<TokenId> a(prompt_.begin(), prompt_.end());
    std::vector<TokenId> b = prompt_;
    b.insert(b.end(), cpu_greedy_.begin(), cpu_greedy_.begin() + 24);
    const std::vector<TokenId> c(cpu_greedy_.begin() + 3, cpu_greedy_.begin() + 7);
    // blocks: a 0..1, b 2..5, c 6..7 (c continues after 20 cached positions of b's first blocks,
    // written first by a pass of its own)
    const std::vector<int32_t> ta{0, 1}, tb{2, 3, 4, 5};
    std::vector<int32_t> tc{6, 7};
    std::vector<float> h, logits;
    const std::vector<TokenId> c_prefix(cpu_greedy_.begin() + 40, cpu_greedy_.begin() + 60);
    {
      const std::vector<int32_t> tcp{6, 7};
      const SequenceSlice p{c_prefix, 0, tcp, 0};
      gpu->forward_stage({&p, 1}, {}, h);
      cpu.forward_stage({&p, 1}, h, logits);
    }
    const SequenceSlice batch[3] = {{a, 0, ta, 1}, {b, 0, tb, 2}, {c, 20, tc, 1}};
    std::vector<float> batch_logits;
    gpu->forward_stage(batch, {}, h);
    QCOMPARE(h.size(), (a.size() + b.size() + c.size()) * static_cast<size_t>(model_->config().n_embd));
    cpu.forward_stage(batch, h, batch_logits);
    const int64_t V = model_->config().n_vocab;
    QCOMPARE(batch_logits.size(), static_cast<size_t>(4 * V));
    // alone, in fresh blocks of the same pools (a: 8..9, b: 10..13; c again over its own prefix)
    const std::vector<int32_t> ta2{8, 9}, tb2{10, 11, 12, 13};
    std::vector<float> alone;
    auto run_alone = [&](const SequenceSlice& s) {
      gpu->forward_stage({&s, 1}, {}, h);
      cpu.forward_stage({&s, 1}, h, alone);
      return alone;
    };
    const auto la = run_alone({a, 0, ta2, 1});
    const auto lb = run_alone({b, 0, tb2, 2});
    const auto lc = run_alone({c, 20, tc, 1});
    auto rows_equal_argmax = [&](const float* x, const float* y, int rows) {
      for (int r = 0; r < rows; ++r) {
        if (argmax(x + r * V, V) != argmax(y + r * V, V)) return false;
      }
      return true;
    };
    QVERIFY(rows_equal_argmax(batch_logits.data(), la.data(), 1));
    QVERIFY(rows_equal_argmax(batch_logits.data() + V, lb.data(), 2));
    QVERIFY(rows_equal_argmax(batch_logits.data() + 3 * V, lc.data(), 1));
  }

  void misuse_is_refused_and_leaves_the_backend_usable() {
    auto gpu = cuda_range(*model_, 0, 1);
    std::vector<int32_t> table{0};
    const SequenceSlice s{prompt_, 0, table, 1};
    std::vector<float> out;
    QVERIFY_THROWS_EXCEPTION(Error, gpu->forward_batch({&s, 1}, out));  // a range, not the whole model
    const std::vector<float> wrong(7, 0.0f);
    QVERIFY_THROWS_EXCEPTION(Error, gpu->forward_stage({&s, 1}, wrong, out));  // range starts at 0: no input
    auto back = cuda_range(*model_, 1, -1);
    QVERIFY_THROWS_EXCEPTION(Error, back->forward_stage({&s, 1}, wrong, out));  // wrong size
    QVERIFY_THROWS_EXCEPTION(Error, cuda_range(*model_, 0, 0));
    QVERIFY_THROWS_EXCEPTION(Error, cuda_range(*model_, 0, n_layer_ + 1));
    QVERIFY_THROWS_EXCEPTION(Error, cuda_range(*model_, n_layer_, -1));
    gpu->forward_stage({&s, 1}, {}, out);  // still usable
    QCOMPARE(out.size(), prompt_.size() * static_cast<size_t>(model_->config().n_embd));
    std::vector<std::byte> block(static_cast<size_t>(gpu->kv_geometry().block_bytes()));
    gpu->read_kv_block(0, block);
    QVERIFY(std::any_of(block.begin(), block.end(), [](std::byte v) { return v != std::byte{0}; }));
  }

 private:
  std::unique_ptr<LoadedModel> model_;
  int64_t n_layer_ = 0;
  std::vector<TokenId> prompt_, cpu_greedy_;
};

QTEST_APPLESS_MAIN(TestCudaPartialOffload)
#include "test_cuda_partial_offload.moc"
