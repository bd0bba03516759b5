// Label gpu: the persistent KV cache on the CUDA backend (F16 KV). A prefix runs on one CUDA
// backend; its full blocks are read back (Backend::read_kv_block) and saved through SqliteKvStore.
// A fresh CUDA backend and a fresh store connection (a restart) load them with load_chain (the
// engine's restore path), write them into its pool and run the rest of the tokens.
//
// Bound: BITWISE. The restored bytes are exactly the bytes that were read (F16 in the host
// layout both ways, checked by reading them back), and the rest of the tokens then run through
// the same kernels on the same inputs with the same shapes: our CUDA kernels use no atomics and
// cuBLAS is deterministic for one handle on one stream on the same GPU, so the logits must equal
// those of the first backend continuing on its own, recomputed KV. Checked on stories260K and a
// synthetic tiny llama-3 (q4_k_m), plus the model in HEARTH_SYNTH_MODEL when set (e.g. `hearth-cli
// synth --preset llama-3.2-1b --type q4_k_m`). Wrong blocks must change the logits. Reports
// SKIP without CUDA in the build or a GPU.
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>

#include "core/backend/cuda/cuda_entry.h"
#include "core/backend/cuda/cuda_probe.h"
#include "core/model/loaded_model.h"
#include "core/model/synth_model.h"
#include "kernels/cpu/thread_pool.h"
#include "core/kv/prefix_hash.h"
#include "storage/sqlite_kv_store.h"

using namespace hearth;

namespace {

const char* kStories = HEARTH_SOURCE_DIR "/resources/models/stories260K.gguf";

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
    worst = std::max(worst, double(std::abs(a[i] - b[i])));
  }
  return worst;
}

std::unique_ptr<Backend> make_cuda(const LoadedModel& m) {
  CudaBackendOptions o;
  o.context_size = 512;
  return create_cuda_backend(m.config(), m.weights(), o);
}

}  // namespace

class TestCudaKvRestore : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    if (!cuda_backend_compiled()) QSKIP("this build has no CUDA");
    if (nvidia_gpu_name_without_cuda().empty()) QSKIP("no NVIDIA GPU");
    seed_ = std::random_device{}();
    qInfo("seed %u", seed_);
    // The synthetic model is written (CPU threads) before anything initializes CUDA.
    QVERIFY(dir_.isValid());
    const auto path = std::filesystem::path(dir_.path().toStdString()) / "tiny-llama-3-q4_k_m.gguf";
    {
      kernels::cpu::ThreadPool pool(4);
      SynthOptions so;
      so.type = QuantTarget::kQ4_K_M;
      so.seed = seed_;
      synth_model_file(path, *find_model_preset("tiny-llama-3"), so, pool);
    }
    models_.emplace_back("stories260K", LoadedModel::open(kStories));
    models_.emplace_back("tiny-llama-3 q4_k_m", LoadedModel::open(path.string()));
    if (const char* synth = std::getenv("HEARTH_SYNTH_MODEL"); synth && *synth) {
      models_.emplace_back(synth, LoadedModel::open(synth));
    }
    const auto probe = probe_cuda();
    if (probe.device_count == 0) QSKIP(qPrintable(QString::fromStdString("no CUDA device: " + probe.message)));
    qInfo("device: %s", probe.first_device_name.c_str());
  }

  void restoredKvGivesIdenticalLogits() {
    std::mt19937 rng(seed_);
    for (const auto& [name, model] : models_) {
      const int32_t n_vocab = static_cast<int32_t>(model->config().n_vocab);
      std::vector<TokenId> tokens(150);
      for (auto& t : tokens) t = 3 + static_cast<TokenId>(rng() % static_cast<unsigned>(std::max(1, n_vocab - 3 - 300)));
      const int64_t n_prefix_blocks = 6;

      auto first = make_cuda(*model);
      const KvGeometry geometry = first->kv_geometry();
      qInfo("%s: KV %s, %lld bytes per block", name.c_str(), geometry.dtype == DType::F16 ? "F16" : "other",
            static_cast<long long>(geometry.block_bytes()));
      const int64_t prefix = n_prefix_blocks * geometry.block_tokens;
      const std::span<const TokenId> head = std::span(tokens).first(static_cast<size_t>(prefix));
      const std::span<const TokenId> rest = std::span(tokens).subspan(static_cast<size_t>(prefix));
      const KvFingerprint fingerprint{0xc0da, geometry};
      QTemporaryDir dir;
      const auto cache_path = std::filesystem::path(dir.path().toStdString()) / "kv-cache.db";

      std::vector<float> logits;
      first->forward({head, false}, logits);
      std::vector<uint64_t> chain;
      std::vector<std::vector<std::byte>> saved;
      {
        SqliteKvStore store(cache_path);
        std::vector<KvBlockRecord> blocks;
        uint64_t parent = 0;
        for (int64_t b = 0; b < n_prefix_blocks; ++b) {
          KvBlockRecord r;
          r.tokens.assign(head.begin() + b * geometry.block_tokens, head.begin() + (b + 1) * geometry.block_tokens);
          r.parent_hash = parent;
          r.chain_hash = chain_hash(fingerprint_seed(fingerprint), parent, r.tokens);
          r.data.resize(static_cast<size_t>(geometry.block_bytes()));
          first->read_kv_block(static_cast<int32_t>(b), r.data);
          parent = r.chain_hash;
          chain.push_back(r.chain_hash);
          saved.push_back(r.data);
          blocks.push_back(std::move(r));
        }
        store.save(fingerprint, "system-prompt", blocks);
      }
      std::vector<float> recomputed;
      first->forward({rest, true}, recomputed);
      first.reset();

      auto second = make_cuda(*model);
      SqliteKvStore store(cache_path);
      const auto records = store.load_chain(fingerprint, chain);
      std::vector<std::byte> back(static_cast<size_t>(geometry.block_bytes()));
      for (int64_t b = 0; b < n_prefix_blocks; ++b) {
        const auto& record = records[static_cast<size_t>(b)];
        QVERIFY2(record.has_value(), name.c_str());
        QVERIFY(record->data == saved[static_cast<size_t>(b)]);
        second->write_kv_block(static_cast<int32_t>(b), record->data);
        second->read_kv_block(static_cast<int32_t>(b), back);
        QVERIFY2(back == record->data, "a block read back differs from the block written");
      }
      std::vector<int32_t> table(static_cast<size_t>(geometry.blocks_for(static_cast<int64_t>(tokens.size()))));
      std::iota(table.begin(), table.end(), 0);
      const SequenceSlice slice{rest, prefix, table, static_cast<int64_t>(rest.size())};
      std::vector<float> restored;
      second->forward_batch(std::span(&slice, 1), restored);
      QCOMPARE(restored.size(), recomputed.size());
      const double diff = max_abs_diff(restored, recomputed);
      qInfo("%s: restored vs recomputed logits, max |diff| %g over %zu positions", name.c_str(), diff, rest.size());
      QVERIFY2(std::memcmp(restored.data(), recomputed.data(), restored.size() * sizeof(float)) == 0,
               qPrintable(QString("%1: restored KV logits are not bitwise equal (max |diff| %2)")
                              .arg(QString::fromStdString(name)).arg(diff)));

      // The check can fail: the same blocks in another order, or with every element's sign
      // flipped (K and V negated), give other logits. Random weights make attention a small part
      // of the residual stream, so the difference may be small; a bitwise comparison still sees it.
      for (const bool negate : {false, true}) {
        for (int64_t b = 0; b < n_prefix_blocks; ++b) {
          std::vector<std::byte> bytes = records[static_cast<size_t>(negate ? b : (b + 1) % n_prefix_blocks)]->data;
          if (negate) {
            const size_t step = static_cast<size_t>(geometry.element_bytes());
            for (size_t i = step - 1; i < bytes.size(); i += step) bytes[i] ^= std::byte{0x80};  // little-endian sign bit
          }
          second->write_kv_block(static_cast<int32_t>(b), bytes);
        }
        std::vector<float> wrong;
        second->forward_batch(std::span(&slice, 1), wrong);
        qInfo("%s: %s, max |diff| %g", name.c_str(), negate ? "negated KV" : "wrong block order",
              max_abs_diff(wrong, recomputed));
        QVERIFY2(std::memcmp(wrong.data(), recomputed.data(), wrong.size() * sizeof(float)) != 0,
                 negate ? "negated KV gave the same logits" : "a wrong block order gave the same logits");
      }
    }
  }

 private:
  unsigned seed_ = 0;
  QTemporaryDir dir_;
  std::vector<std::pair<std::string, std::shared_ptr<LoadedModel>>> models_;
};

QTEST_APPLESS_MAIN(TestCudaKvRestore)
#include "test_cuda_kv_restore.moc"
