// Partial offload on the CPU: a model split by layers between two backends
// (LayerSplitBackend over CpuBackend [0, k) and CpuBackend [k, n_layer)) must compute exactly what
// one whole-model CpuBackend computes (same kernels, same batch shapes, the residual stream handed
// over in float32: bitwise equal logits and KV bytes). Models: stories260K and a synthetic
// 4-layer Llama 3 in Q4_0 with a tied output (the whole backend repacks the shared embedding,
// the split's front does not). Also: KV blocks moved between a whole and a split backend, a
// front whose KV is F16 (the split converts), errors, the GPU-layer fit function, the factory's
// option checks, and an Engine over a split backend.
#include <QTemporaryDir>
#include <QTest>

#include <cstdio>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "core/backend/backend_factory.h"
#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/gpu_layer_fit.h"
#include "core/backend/layer_split_backend.h"
#include "core/common/error.h"
#include "core/engine/engine.h"
#include "core/gguf/gguf_file.h"
#include "core/model/loaded_model.h"
#include "core/model/model_presets.h"
#include "core/model/synth_model.h"
#include "kernels/cpu/thread_pool.h"
#include "tests/core/engine/engine_test_support.h"

using namespace hearth;
using namespace hearth::test;

namespace {

const char* kStories = HEARTH_SOURCE_DIR "/resources/models/stories260K.gguf";

struct Model {
  std::string name, path;
  std::unique_ptr<gguf::GgufFile> file;
  ModelConfig config;
  ModelWeights weights;
  int64_t n_layer() const { return config.n_layer; }
};

struct Shape {
  int64_t max_batch = 512;
  int64_t kv_blocks = 32;
  int64_t context = 256;
  int64_t block_tokens = 16;
  bool resident = true;  // CpuBackendOptions::resident_weights (false: compute from the mapping)
};

std::unique_ptr<CpuBackend> cpu_part(const Model& m, LayerRange range, const Shape& s = {}) {
  CpuBackendOptions o;
  o.n_threads = 2;
  o.context_size = s.context;
  o.max_batch = s.max_batch;
  o.kv_blocks = s.kv_blocks;
  o.kv_block_tokens = s.block_tokens;
  o.layers = range;
  o.resident_weights = s.resident;
  return std::make_unique<CpuBackend>(m.config, m.weights, o);
}

std::unique_ptr<LayerSplitBackend> cpu_split(const Model& m, int64_t k, const Shape& s = {}) {
  return std::make_unique<LayerSplitBackend>(cpu_part(m, {0, k}, s), cpu_part(m, {k, -1}, s), m.n_layer());
}

std::vector<TokenId> random_tokens(std::mt19937_64& rng, int64_t n, int64_t n_vocab) {
  std::vector<TokenId> t(static_cast<size_t>(n));
  for (auto& x : t) x = std::uniform_int_distribution<TokenId>(1, TokenId(n_vocab - 1))(rng);
  return t;
}

std::vector<int32_t> table(int32_t first, int64_t n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

SequenceSlice slice(std::span<const TokenId> tokens, int64_t n_past, std::span<const int32_t> blocks,
                    int64_t n_logits) {
  SequenceSlice s;
  s.tokens = tokens;
  s.n_past = n_past;
  s.block_table = blocks;
  s.n_logits = n_logits;
  return s;
}

// Bitwise equality of two float vectors, with the first difference in `why`.
bool same_bits(const std::vector<float>& a, const std::vector<float>& b, QString& why) {
  if (a.size() != b.size()) {
    why = QString("%1 values vs %2").arg(a.size()).arg(b.size());
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) {
      why = QString("value %1: %2 vs %3").arg(i).arg(double(a[i]), 0, 'g', 9).arg(double(b[i]), 0, 'g', 9);
      return false;
    }
  }
  return true;
}

std::vector<std::byte> read_block(const Backend& b, int32_t block) {
  std::vector<std::byte> bytes(static_cast<size_t>(b.kv_geometry().block_bytes()));
  b.read_kv_block(block, bytes);
  return bytes;
}

TokenId argmax(std::span<const float> row) {
  return static_cast<TokenId>(std::max_element(row.begin(), row.end()) - row.begin());
}

// Split points worth testing: the first layer alone, half, all but the last (deduplicated).
std::vector<int64_t> split_points(int64_t n_layer) {
  std::vector<int64_t> k = {1, n_layer / 2, n_layer - 1};
  std::sort(k.begin(), k.end());
  k.erase(std::unique(k.begin(), k.end()), k.end());
  k.erase(std::remove_if(k.begin(), k.end(), [&](int64_t x) { return x < 1 || x >= n_layer; }), k.end());
  return k;
}

// A test-only part whose KV blocks are F16 to the outside, as a CUDA front's are: it wraps a
// CpuBackend and converts on read (F32 -> F16, round to nearest even) and write (F16 -> F32,
// exact). The conversion here is the compiler's _Float16, independent of kernels/cpu's.
class F16KvPart final : public Backend {
 public:
  explicit F16KvPart(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}
  std::string device_name() const override { return "f16 " + inner_->device_name(); }
  int64_t context_size() const override { return inner_->context_size(); }
  int64_t n_vocab() const override { return inner_->n_vocab(); }
  KvGeometry kv_geometry() const override {
    KvGeometry g = inner_->kv_geometry();
    g.dtype = DType::F16;
    return g;
  }
  int64_t kv_block_count() const override { return inner_->kv_block_count(); }
  void forward_batch(std::span<const SequenceSlice> s, std::vector<float>& logits) override {
    inner_->forward_batch(s, logits);
  }
  void forward_stage(std::span<const SequenceSlice> s, std::span<const float> hidden_in,
                     std::vector<float>& out) override {
    inner_->forward_stage(s, hidden_in, out);
  }
  LayerRange layer_range() const override { return inner_->layer_range(); }
  void copy_kv_block(int32_t src, int32_t dst) override { inner_->copy_kv_block(src, dst); }
  void read_kv_block(int32_t block, std::span<std::byte> bytes) const override {
    const auto f32 = read_block(*inner_, block);
    QVERIFY(bytes.size() * 2 == f32.size());
    for (size_t i = 0; i < bytes.size() / 2; ++i) {
      float f;
      std::memcpy(&f, f32.data() + 4 * i, 4);
      const _Float16 h = static_cast<_Float16>(f);
      std::memcpy(bytes.data() + 2 * i, &h, 2);
    }
  }
  void write_kv_block(int32_t block, std::span<const std::byte> bytes) override {
    std::vector<std::byte> f32(bytes.size() * 2);
    for (size_t i = 0; i < bytes.size() / 2; ++i) {
      _Float16 h;
      std::memcpy(&h, bytes.data() + 2 * i, 2);
      const float f = static_cast<float>(h);
      std::memcpy(f32.data() + 4 * i, &f, 4);
    }
    inner_->write_kv_block(block, f32);
  }

 private:
  std::unique_ptr<Backend> inner_;
};

// f32 bytes rounded through F16 (the reference for the F16 part of a split's block).
std::vector<std::byte> through_f16(std::span<const std::byte> f32) {
  std::vector<std::byte> out(f32.size());
  for (size_t i = 0; i < f32.size() / 4; ++i) {
    float f;
    std::memcpy(&f, f32.data() + 4 * i, 4);
    f = static_cast<float>(static_cast<_Float16>(f));
    std::memcpy(out.data() + 4 * i, &f, 4);
  }
  return out;
}

}  // namespace

class TestLayerSplit : public QObject {
  Q_OBJECT

  QTemporaryDir scratch_;  // removed with the test object, whatever the outcome
  std::vector<std::unique_ptr<Model>> models_;
  uint64_t seed_ = 0;

  std::unique_ptr<Model> open(const std::string& name, const std::string& path) {
    auto m = std::make_unique<Model>();
    m->name = name;
    m->path = path;
    m->file = std::make_unique<gguf::GgufFile>(gguf::GgufFile::open(path));
    m->config = ModelConfig::from_gguf(*m->file);
    m->weights = ModelWeights::from_gguf(*m->file, m->config);
    return m;
  }

 private slots:
  void initTestCase() {
    seed_ = fresh_seed("test_layer_split");
    models_.push_back(open("stories260K", kStories));
    // A 4-layer tiny Llama 3 (GQA, tied output) in Q4_0, whose matrices the resident copy repacks.
    const auto* preset = find_model_preset("tiny-llama-3");
    QVERIFY(preset);
    ModelPreset four = *preset;
    four.n_layer = 4;
    kernels::cpu::ThreadPool pool(2);
    SynthOptions options;
    options.type = QuantTarget::kQ4_0;
    options.seed = 7;
    const std::string path = (std::filesystem::path(scratch_.path().toStdString()) / "split-tiny-llama.gguf").string();
    synth_model_file(path, four, options, pool);
    models_.push_back(open("tiny-llama-3 x4 q4_0", path));
    QCOMPARE(models_[1]->n_layer(), int64_t{4});
    QVERIFY(models_[0]->n_layer() >= 3);
  }

  // One sequence: a prefill with every row's logits, then 32 greedy decode steps.
  void singleSequenceAndDecode() {
    std::mt19937_64 rng(seed_);
    for (const auto& m : models_) {
      for (int64_t k : split_points(m->n_layer())) {
        auto whole = cpu_part(*m, {});
        auto split = cpu_split(*m, k);
        QCOMPARE(split->kv_geometry().n_layer, m->n_layer());
        QCOMPARE(split->kv_geometry(), whole->kv_geometry());
        QCOMPARE(split->n_vocab(), whole->n_vocab());
        QCOMPARE(split->context_size(), whole->context_size());
        const auto prompt = random_tokens(rng, 23, m->config.n_vocab);
        std::vector<float> a, b;
        whole->forward({prompt, true}, a);
        split->forward({prompt, true}, b);
        QString why;
        QVERIFY2(same_bits(b, a, why), qPrintable(QString::fromStdString(m->name) + " k=" + QString::number(k) +
                                                   " prefill: " + why));
        const auto V = static_cast<size_t>(m->config.n_vocab);
        TokenId next = argmax(std::span<const float>(a).subspan(a.size() - V));
        for (int step = 0; step < 32; ++step) {
          whole->forward({std::span<const TokenId>(&next, 1), false}, a);
          split->forward({std::span<const TokenId>(&next, 1), false}, b);
          QVERIFY2(same_bits(b, a, why), qPrintable(QString::fromStdString(m->name) + " k=" + QString::number(k) +
                                                     " decode step " + QString::number(step) + ": " + why));
          next = argmax(a);
        }
        for (int32_t blk = 0; blk < whole->kv_geometry().blocks_for(whole->n_past()); ++blk) {
          QVERIFY(read_block(*split, blk) == read_block(*whole, blk));
        }
      }
    }
  }

  // Several sequences in one batch (different n_past and n_logits, prefill and decode rows
  // mixed), with and without chunking by a small max_batch; the KV blocks are compared bytewise.
  void batchesAndChunks() {
    std::mt19937_64 rng(seed_ + 1);
    for (const auto& m : models_) {
      for (int64_t k : split_points(m->n_layer())) {
        for (int64_t max_batch : {int64_t{512}, int64_t{7}}) {
          Shape shape;
          shape.max_batch = max_batch;
          auto whole = cpu_part(*m, {}, shape);
          auto split = cpu_split(*m, k, shape);
          const QString where =
              QString("%1 k=%2 max_batch=%3").arg(QString::fromStdString(m->name)).arg(k).arg(max_batch);
          // Three sequences, blocks [8i, 8i + 8).
          std::vector<std::vector<int32_t>> tables = {table(0, 8), table(8, 8), table(16, 8)};
          std::vector<int64_t> n_past = {0, 0, 0};
          const std::vector<std::vector<int64_t>> lengths = {{19, 5, 1}, {1, 33, 2}, {12, 1, 17}, {1, 1, 1}};
          const std::vector<std::vector<int64_t>> logits_of = {{1, 5, 0}, {0, 2, 2}, {12, 1, 3}, {1, 1, 1}};
          for (size_t pass = 0; pass < lengths.size(); ++pass) {
            std::vector<std::vector<TokenId>> tokens;
            std::vector<SequenceSlice> batch;
            for (size_t i = 0; i < 3; ++i) tokens.push_back(random_tokens(rng, lengths[pass][i], m->config.n_vocab));
            for (size_t i = 0; i < 3; ++i) batch.push_back(slice(tokens[i], n_past[i], tables[i], logits_of[pass][i]));
            std::vector<float> a, b;
            whole->forward_batch(batch, a);
            split->forward_batch(batch, b);
            QString why;
            QVERIFY2(same_bits(b, a, why), qPrintable(where + " pass " + QString::number(pass) + ": " + why));
            for (size_t i = 0; i < 3; ++i) n_past[i] += lengths[pass][i];
          }
          for (int32_t blk = 0; blk < 24; ++blk) {
            QVERIFY2(read_block(*split, blk) == read_block(*whole, blk),
                     qPrintable(where + " block " + QString::number(blk)));
          }
        }
      }
    }
  }

  // Blocks read from a whole backend and written into a split one (at other ids) serve later
  // tokens identically; copy_kv_block copies both parts.
  void kvBlocksMoveBetweenWholeAndSplit() {
    std::mt19937_64 rng(seed_ + 2);
    for (const auto& m : models_) {
      const int64_t k = m->n_layer() / 2;
      auto whole = cpu_part(*m, {});
      auto split = cpu_split(*m, k);
      const auto prompt = random_tokens(rng, 40, m->config.n_vocab);
      const auto wt = table(0, 4), st = table(10, 4);
      std::vector<float> a, b;
      whole->forward_batch(std::vector{slice(prompt, 0, wt, 1)}, a);
      for (int i = 0; i < 3; ++i) split->write_kv_block(st[i], read_block(*whole, wt[i]));
      for (int i = 0; i < 3; ++i) QVERIFY(read_block(*split, st[i]) == read_block(*whole, wt[i]));
      int64_t n_past = 40;
      TokenId next = argmax(a);
      for (int step = 0; step < 12; ++step, ++n_past) {
        whole->forward_batch(std::vector{slice({&next, 1}, n_past, wt, 1)}, a);
        split->forward_batch(std::vector{slice({&next, 1}, n_past, st, 1)}, b);
        QString why;
        QVERIFY2(same_bits(b, a, why), qPrintable(QString::fromStdString(m->name) + " after the move: " + why));
        next = argmax(a);
      }
      // Copy the partly filled last block, then the fork decodes like the original.
      split->copy_kv_block(st[3], 20);
      QVERIFY(read_block(*split, 20) == read_block(*split, st[3]));
      const auto fork = std::vector<int32_t>{st[0], st[1], st[2], 20};
      std::vector<float> c;
      split->forward_batch(std::vector{slice({&next, 1}, n_past, fork, 1)}, c);
      whole->forward_batch(std::vector{slice({&next, 1}, n_past, wt, 1)}, a);
      QString why;
      QVERIFY2(same_bits(c, a, why), qPrintable("after copy_kv_block: " + why));
    }
  }

  // A front whose KV blocks are F16 (as CUDA's): the split's blocks are F32, the front's part
  // converted on read and write; with both parts F16 the split is F16 and copies as is.
  void mixedKvDtypes() {
    std::mt19937_64 rng(seed_ + 3);
    const Model& m = *models_[1];
    const int64_t k = 2;
    auto whole = cpu_part(m, {});
    LayerSplitBackend split(std::make_unique<F16KvPart>(cpu_part(m, {0, k})), cpu_part(m, {k, -1}), m.n_layer());
    QCOMPARE(split.kv_geometry().dtype, DType::F32);
    QCOMPARE(split.kv_geometry().block_bytes(), whole->kv_geometry().block_bytes());
    const auto prompt = random_tokens(rng, 30, m.config.n_vocab);
    const auto t = table(0, 2);
    std::vector<float> a, b;
    whole->forward_batch(std::vector{slice(prompt, 0, t, 1)}, a);
    split.forward_batch(std::vector{slice(prompt, 0, t, 1)}, b);
    QString why;
    QVERIFY2(same_bits(b, a, why), qPrintable(why));  // the computation itself is all F32
    KvGeometry front = whole->kv_geometry();
    front.n_layer = k;
    const auto front_bytes = static_cast<size_t>(front.block_bytes());
    for (int32_t blk : t) {
      const auto w = read_block(*whole, blk), s = read_block(split, blk);
      const auto rounded = through_f16(std::span(w).first(front_bytes));
      QVERIFY2(std::equal(rounded.begin(), rounded.end(), s.begin()), "the F16 front's part, read as F32");
      QVERIFY2(std::equal(w.begin() + front_bytes, w.end(), s.begin() + front_bytes), "the F32 back's part");
      QVERIFY(rounded != std::vector<std::byte>(w.begin(), w.begin() + front_bytes));  // F16 did round something
    }
    // Written into a fresh mixed split: the F32 back part exactly, the front part through F16.
    LayerSplitBackend other(std::make_unique<F16KvPart>(cpu_part(m, {0, k})), cpu_part(m, {k, -1}), m.n_layer());
    const auto w0 = read_block(*whole, 0);
    other.write_kv_block(5, w0);
    const auto back = read_block(other, 5);
    const auto rounded = through_f16(std::span(w0).first(front_bytes));
    QVERIFY(std::equal(rounded.begin(), rounded.end(), back.begin()));
    QVERIFY(std::equal(w0.begin() + front_bytes, w0.end(), back.begin() + front_bytes));
    // Values that are already F16 survive a write and a read exactly.
    other.write_kv_block(6, back);
    QVERIFY(read_block(other, 6) == back);

    // Both parts F16: the split is F16, its bytes the parts' bytes one after the other.
    LayerSplitBackend both(std::make_unique<F16KvPart>(cpu_part(m, {0, k})),
                           std::make_unique<F16KvPart>(cpu_part(m, {k, -1})), m.n_layer());
    QCOMPARE(both.kv_geometry().dtype, DType::F16);
    both.forward_batch(std::vector{slice(prompt, 0, t, 1)}, b);
    const auto f16 = read_block(both, 1);
    QCOMPARE(static_cast<int64_t>(f16.size()), both.kv_geometry().block_bytes());
    const auto w1 = read_block(*whole, 1);
    for (size_t i = 0; i < f16.size() / 2; ++i) {
      float f;
      std::memcpy(&f, w1.data() + 4 * i, 4);
      const _Float16 h = static_cast<_Float16>(f);
      QVERIFY(std::memcmp(&h, f16.data() + 2 * i, 2) == 0);
    }
  }

  // A middle stage (neither embedding nor head) chained by hand through forward_stage: the
  // hidden rows are [new tokens of all sequences, n_embd], and three stages give the whole's
  // logits. Weights resident (copied, repacked) or read through the file mapping.
  void threeStagesByHand() {
    std::mt19937_64 rng(seed_ + 6);
    for (const auto& m : models_) {
      for (bool resident : {true, false}) {
        const int64_t L = m->n_layer();
        Shape shape;
        shape.max_batch = 6;
        shape.resident = resident;
        auto whole = cpu_part(*m, {}, shape);
        auto first = cpu_part(*m, {0, 1}, shape), middle = cpu_part(*m, {1, L - 1}, shape),
             last = cpu_part(*m, {L - 1, -1}, shape);
        QCOMPARE(middle->kv_geometry().n_layer, L - 2);
        const auto t0 = table(0, 4), t1 = table(4, 4);
        std::vector<int64_t> n_past = {0, 0};
        for (int pass = 0; pass < 3; ++pass) {
          const auto a_tokens = random_tokens(rng, pass == 0 ? 17 : 1, m->config.n_vocab);
          const auto b_tokens = random_tokens(rng, pass == 0 ? 4 : 3, m->config.n_vocab);
          const auto batch = std::vector{slice(a_tokens, n_past[0], t0, 1), slice(b_tokens, n_past[1], t1, 2)};
          std::vector<float> h1, h2, logits, reference;
          first->forward_stage(batch, {}, h1);
          QCOMPARE(h1.size(), (a_tokens.size() + b_tokens.size()) * static_cast<size_t>(m->config.n_embd));
          middle->forward_stage(batch, h1, h2);
          QCOMPARE(h2.size(), h1.size());
          last->forward_stage(batch, h2, logits);
          whole->forward_batch(batch, reference);
          QString why;
          QVERIFY2(same_bits(logits, reference, why), qPrintable(QString::fromStdString(m->name) + " pass " +
                                                                 QString::number(pass) + ": " + why));
          n_past[0] += static_cast<int64_t>(a_tokens.size());
          n_past[1] += static_cast<int64_t>(b_tokens.size());
        }
      }
    }
  }

  void errors() {
    const Model& m = *models_[0];
    const int64_t L = m.n_layer();
    // Invalid ranges.
    for (LayerRange r : {LayerRange{-1, 2}, LayerRange{L, -1}, LayerRange{2, 2}, LayerRange{0, L + 1},
                         LayerRange{3, 1}}) {
      QVERIFY_THROWS_EXCEPTION(Error, cpu_part(m, r));
    }
    // Ranges that do not join, or swapped, or KV blocks that differ.
    QVERIFY_THROWS_EXCEPTION(Error, LayerSplitBackend(cpu_part(m, {0, 1}), cpu_part(m, {2, -1}), L));
    QVERIFY_THROWS_EXCEPTION(Error, LayerSplitBackend(cpu_part(m, {0, 2}), cpu_part(m, {1, -1}), L));
    QVERIFY_THROWS_EXCEPTION(Error, LayerSplitBackend(cpu_part(m, {2, -1}), cpu_part(m, {0, 2}), L));
    QVERIFY_THROWS_EXCEPTION(Error, LayerSplitBackend(cpu_part(m, {0, 2}), cpu_part(m, {2, L - 1}), L));
    QVERIFY_THROWS_EXCEPTION(Error, LayerSplitBackend(cpu_part(m, {}), cpu_part(m, {2, -1}), L));
    QVERIFY_THROWS_EXCEPTION(Error, LayerSplitBackend(cpu_part(m, {0, 2}), cpu_part(m, {2, -1}), L + 1));
    Shape eight;
    eight.block_tokens = 8;
    QVERIFY_THROWS_EXCEPTION(Error, LayerSplitBackend(cpu_part(m, {0, 2}), cpu_part(m, {2, -1}, eight), L));
    QVERIFY_THROWS_EXCEPTION(Error, LayerSplitBackend(nullptr, cpu_part(m, {2, -1}), L));
    // The pool is the smaller part's.
    Shape small;
    small.kv_blocks = 5;
    LayerSplitBackend smaller(cpu_part(m, {0, 2}), cpu_part(m, {2, -1}, small), L);
    QCOMPARE(smaller.kv_block_count(), int64_t{5});
    std::vector<std::byte> bytes(static_cast<size_t>(smaller.kv_geometry().block_bytes()));
    QVERIFY_THROWS_EXCEPTION(Error, smaller.read_kv_block(5, bytes));
    QVERIFY_THROWS_EXCEPTION(Error, smaller.write_kv_block(-1, bytes));
    QVERIFY_THROWS_EXCEPTION(Error, smaller.copy_kv_block(0, 7));
    QVERIFY_THROWS_EXCEPTION(Error, smaller.read_kv_block(0, std::span(bytes).first(bytes.size() - 4)));

    // A partial CpuBackend refuses forward_batch (and the legacy forward built on it), and a
    // hidden input of the wrong size; afterwards it still computes what a fresh one computes.
    std::mt19937_64 rng(seed_ + 4);
    const auto tokens = random_tokens(rng, 9, m.config.n_vocab);
    const auto t = table(0, 2);
    const auto batch = std::vector{slice(tokens, 0, t, 2)};
    auto front = cpu_part(m, {0, 2});
    auto back = cpu_part(m, {2, -1});
    std::vector<float> hidden, logits;
    QVERIFY_THROWS_EXCEPTION(Error, front->forward_batch(batch, logits));
    QVERIFY_THROWS_EXCEPTION(Error, back->forward_batch(batch, logits));
    QVERIFY_THROWS_EXCEPTION(Error, front->forward({tokens, false}, logits));
    front->forward_stage(batch, {}, hidden);
    QCOMPARE(hidden.size(), tokens.size() * static_cast<size_t>(m.config.n_embd));
    QVERIFY_THROWS_EXCEPTION(Error, back->forward_stage(batch, {}, logits));
    QVERIFY_THROWS_EXCEPTION(Error, back->forward_stage(batch, std::span(hidden).first(hidden.size() - 1), logits));
    QVERIFY_THROWS_EXCEPTION(Error, front->forward_stage(batch, hidden, logits));  // the first stage embeds
    back->forward_stage(batch, hidden, logits);
    auto whole = cpu_part(m, {});
    std::vector<float> reference;
    whole->forward_batch(batch, reference);
    QString why;
    QVERIFY2(same_bits(logits, reference, why), qPrintable("after the errors: " + why));
    QCOMPARE(back->layer_range().begin, int64_t{2});
    QCOMPARE(back->layer_range().end, L);
    QCOMPARE(back->kv_geometry().n_layer, L - 2);
    QCOMPARE(front->kv_geometry().n_layer, int64_t{2});

    // A bad token in a split batch: an error, and the split keeps working.
    auto split = cpu_split(m, 2);
    std::vector<TokenId> bad = tokens;
    bad[3] = TokenId(m.config.n_vocab);
    QVERIFY_THROWS_EXCEPTION(Error, split->forward_batch(std::vector{slice(bad, 0, t, 1)}, logits));
    split->forward_batch(batch, logits);
    QVERIFY2(same_bits(logits, reference, why), qPrintable("split after an error: " + why));
    QVERIFY(split->device_name().find("(layers 0-1) + cpu") != std::string::npos);
    QVERIFY(split->device_name().find(QString("(layers 2-%1)").arg(L - 1).toStdString()) != std::string::npos);
    QVERIFY(!split->energy_joules());
  }

  // estimate(n) = 1000 + 100 n, plus 500 for the head when n == 12.
  void gpuLayerFit() {
    const int64_t L = 12;
    int calls = 0;
    const GpuLayerEstimate estimate = [&](int64_t n) -> uint64_t {
      ++calls;
      return 1000 + 100 * uint64_t(n) + (n == L ? 500 : 0);
    };
    QCOMPARE(gpu_layers_that_fit(L, uint64_t{2700}, estimate), std::optional<int64_t>(12));  // exactly all
    QCOMPARE(gpu_layers_that_fit(L, uint64_t{1 << 20}, estimate), std::optional<int64_t>(12));
    QCOMPARE(gpu_layers_that_fit(L, uint64_t{2699}, estimate), std::optional<int64_t>(11));  // the head does not fit
    QCOMPARE(gpu_layers_that_fit(L, uint64_t{1750}, estimate), std::optional<int64_t>(7));
    QCOMPARE(gpu_layers_that_fit(L, uint64_t{1100}, estimate), std::optional<int64_t>(1));
    QCOMPARE(gpu_layers_that_fit(L, uint64_t{1099}, estimate), std::optional<int64_t>(0));
    QCOMPARE(gpu_layers_that_fit(L, uint64_t{0}, estimate), std::optional<int64_t>(0));
    calls = 0;
    QCOMPARE(gpu_layers_that_fit(L, std::nullopt, estimate), std::optional<int64_t>());
    QCOMPARE(calls, 0);
    QCOMPARE(QString::fromStdString(gpu_layers_advice(19, 32)),
             QString("--gpu-layers 19 would put 19 of 32 layers on the GPU"));
    QCOMPARE(QString::fromStdString(gpu_layers_advice(0, 32)),
             QString("not even one of its 32 layers fits on the GPU"));
  }

  void factoryOptions() {
    const auto model = LoadedModel::open(kStories);
    BackendOptions o;
    o.n_threads = 2;
    o.context_size = 64;
    o.device = "cpu";
    o.gpu_layers = 2;
    QVERIFY_THROWS_EXCEPTION(Error, create_backend(*model, o));
    o.device = "auto";
    o.gpu_layers = -2;
    QVERIFY_THROWS_EXCEPTION(Error, create_backend(*model, o));
    o.device = "cuda";
    o.gpu_layers = 0;
    QVERIFY_THROWS_EXCEPTION(Error, create_backend(*model, o));
    o.device = "auto";
    o.gpu_layers = 0;
    auto cpu = create_backend(*model, o);
    QVERIFY(cpu.backend);
    QVERIFY2(cpu.reason.find("gpu-layers 0") != std::string::npos, cpu.reason.c_str());
    QCOMPARE(cpu.backend->kv_geometry().n_layer, model->config().n_layer);
    o.device = "cpu";
    o.gpu_layers = -1;
    QVERIFY(create_backend(*model, o).backend);
    o.gpu_layers = 0;
    QVERIFY(create_backend(*model, o).backend);
  }

  // Greedy outputs of concurrent requests with a shared prefix (served from the prefix cache)
  // through an Engine whose backend is a CPU+CPU split equal those of the whole CPU backend.
  void engineOverSplit() {
    for (const auto& m : models_) {
      std::mt19937_64 rng(seed_ + 5);
      const int64_t k = m->n_layer() / 2;
      EngineOptions o;
      o.backend.device = "cpu";
      o.backend.n_threads = 2;
      o.backend.context_size = 256;
      o.backend.kv_block_tokens = 16;
      o.max_running = 6;
      o.token_budget = 64;
      o.prefill_chunk = 24;
      o.max_queue = 100;
      const auto shared = random_tokens(rng, 37, std::min<int64_t>(m->config.n_vocab, 900));
      std::vector<Request> requests;
      for (int i = 0; i < 5; ++i) {
        Request r;
        r.prompt_tokens = shared;
        const auto tail = random_tokens(rng, 3 + 5 * i, std::min<int64_t>(m->config.n_vocab, 900));
        r.prompt_tokens.insert(r.prompt_tokens.end(), tail.begin(), tail.end());
        r.max_tokens = 10 + 3 * i;
        r.sampling.temperature = 0;
        r.ignore_eos = true;
        requests.push_back(r);
      }
      auto run = [&](const EngineOptions& options, QString& pool) {
        std::vector<Collected> out;
        Engine engine(options);
        if (!load_and_wait(engine, m->path)) return out;
        Collector c;
        // The first alone (its prompt's full blocks enter the prefix cache), then the rest at once.
        engine.submit(requests[0], c.sink(0));
        if (!c.wait_finished(1)) return out;
        for (size_t i = 1; i < requests.size(); ++i) engine.submit(requests[i], c.sink(int(i)));
        if (!c.wait_finished(int(requests.size()), std::chrono::seconds(120))) return out;
        for (size_t i = 0; i < requests.size(); ++i) out.push_back(c.get(int(i)));
        pool_whole(engine, pool);
        return out;
      };
      QString pool;
      const auto reference = run(o, pool);
      QVERIFY2(pool.isEmpty(), qPrintable(pool));
      EngineOptions split = o;
      bool used = false;
      split.backend_factory = [&used, k](const LoadedModel& model, const BackendOptions& b) {
        used = true;
        BackendChoice choice;
        // The parts keep references to the config and weights: use the loaded model's own.
        auto part = [&](LayerRange r) {
          CpuBackendOptions c;
          c.n_threads = b.n_threads;
          c.context_size = b.context_size;
          c.max_batch = b.max_batch;
          c.kv_blocks = b.kv_blocks;
          c.kv_block_tokens = b.kv_block_tokens;
          c.layers = r;
          return std::make_unique<CpuBackend>(model.config(), model.weights(), c);
        };
        choice.backend = std::make_unique<LayerSplitBackend>(part({0, k}), part({k, -1}), model.config().n_layer);
        choice.reason = "test split";
        return choice;
      };
      const auto got = run(split, pool);
      QVERIFY(used);
      QVERIFY2(pool.isEmpty(), qPrintable(pool));
      QCOMPARE(got.size(), reference.size());
      int64_t reused = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        QVERIFY2(got[i].error.empty(), got[i].error.c_str());
        QCOMPARE(got[i].tokens.size(), size_t(requests[i].max_tokens));
        QVERIFY2(got[i].tokens == reference[i].tokens,
                 qPrintable(QString::fromStdString(m->name) + ": request " + QString::number(i) + " differs"));
        reused += got[i].usage.cached_tokens;
      }
      std::printf("%s: engine over split at layer %lld, %lld prompt tokens reused\n", m->name.c_str(),
                  static_cast<long long>(k), static_cast<long long>(reused));
      QVERIFY(reused >= 4 * 32);  // the shared prefix's two full blocks, for each later request
    }
  }
};

QTEST_APPLESS_MAIN(TestLayerSplit)
#include "test_layer_split.moc"
