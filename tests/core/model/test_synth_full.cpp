// Slow: the full-size llama-3.2-1b preset synthesized as q4_0, end to end, then read back.
#include <QTemporaryDir>
#include <QTest>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "core/gguf/gguf_file.h"
#include "core/model/model_config.h"
#include "core/model/model_presets.h"
#include "core/model/synth_model.h"
#include "kernels/cpu/thread_pool.h"

using namespace hearth;

class TestSynthFull : public QObject {
  Q_OBJECT

 private slots:
  void llama_3_2_1b_q4_0() {
    QTemporaryDir scratch;  // removed on every way out, a failed check included (the file is 0.77 GB)
    const std::filesystem::path dir = scratch.path().toStdString();
    const auto path = dir / "llama-3.2-1b-q4_0.gguf";
    kernels::cpu::ThreadPool pool(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    SynthOptions options;
    options.type = QuantTarget::kQ4_0;
    const auto start = std::chrono::steady_clock::now();
    synth_model_file(path, *find_model_preset("llama-3.2-1b"), options, pool);
    qInfo("synthesized in %.1f s on %d threads",
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), pool.size());

    const auto file = gguf::GgufFile::open(path);
    const auto c = ModelConfig::from_gguf(file);
    QCOMPARE(c.n_vocab, int64_t{128256});
    QCOMPARE(c.n_embd, int64_t{2048});
    QCOMPARE(c.n_layer, int64_t{16});
    QCOMPARE(c.n_head, int64_t{32});
    QCOMPARE(c.n_head_kv, int64_t{8});
    QCOMPARE(c.n_ff, int64_t{8192});
    QVERIFY(c.tied_output && c.rope_freq_factors);
    QCOMPARE(file.tensors().size(), size_t{2 + 1 + 16 * 9});  // token_embd, output_norm, rope_freqs, layers
    QCOMPARE(file.find_tensor("token_embd.weight")->type, DType::Q6_K);  // tied: the logits matrix
    QCOMPARE(file.find_tensor("blk.15.ffn_down.weight")->type, DType::Q4_0);
    QCOMPARE(file.get_string_array("tokenizer.ggml.tokens")->size(), size_t{128256});
    QCOMPARE(file.get_string_array("tokenizer.ggml.merges")->size(), size_t{128000 - 256});
    // Q4_0 weights plus a Q6_K embedding: about 0.77 GB, like llama.cpp's file.
    QVERIFY(file.file_size() > 700'000'000 && file.file_size() < 800'000'000);
  }
};

QTEST_APPLESS_MAIN(TestSynthFull)
#include "test_synth_full.moc"
