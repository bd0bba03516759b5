// The speculative-decoding draft pair that `hearth-cli synth --layers N` builds (issue 6): the
// draft is the target's first N blocks with the target's embeddings, final norm and output head,
// byte for byte (weights are a function of the seed, the tensor name and the row only), and
// `bench --spec draft` runs the pair with greedy output identical to plain decode.
#include <QJsonDocument>
#include <QJsonArray>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <cstring>
#include <cstdio>
#include <random>

#include "core/gguf/gguf_file.h"
#include "tests/app/cli/cli_test_support.h"

using namespace hearth;
using namespace hearth::test;

class TestCliSpecPair : public QObject {
  Q_OBJECT

 private slots:
  void layersAreTheTargetsFirstBlocks() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const uint64_t seed = std::random_device{}() % 100000;
    std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
    const QString full = dir.filePath("full.gguf"), part = dir.filePath("part.gguf");
    for (const auto& [out, layers] : {std::pair{full, QString("0")}, std::pair{part, QString("1")}}) {
      const CliRun r = run_cli({"synth", "--preset", "tiny-llama-3", "--type", "q8_0", "--seed", QString::number(seed),
                                "--layers", layers, "-o", out, "-q"});
      QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    }
    const auto a = gguf::GgufFile::open(full.toStdString());
    const auto b = gguf::GgufFile::open(part.toStdString());
    QCOMPARE(a.get_uint("llama.block_count").value_or(0), uint64_t{2});
    QCOMPARE(b.get_uint("llama.block_count").value_or(0), uint64_t{1});
    int compared = 0;
    for (const gguf::TensorInfo& t : b.tensors()) {
      QVERIFY2(t.name.rfind("blk.1.", 0) != 0, t.name.c_str());  // only the first block
      const gguf::TensorInfo* u = a.find_tensor(t.name);
      QVERIFY2(u, t.name.c_str());
      QCOMPARE(u->dims, t.dims);
      QCOMPARE(static_cast<int>(u->type), static_cast<int>(t.type));
      const auto x = a.tensor_data(*u), y = b.tensor_data(t);
      QVERIFY2(std::equal(x.begin(), x.end(), y.begin(), y.end()), t.name.c_str());
      ++compared;
    }
    QVERIFY(compared >= 10);  // embeddings, norms and the 9 tensors of block 0
    // More layers than the preset has: a clear error.
    const CliRun bad = run_cli({"synth", "--preset", "tiny-llama-3", "--layers", "3", "-o", dir.filePath("x.gguf")});
    QVERIFY(bad.exit_code != 0);
    QVERIFY2(bad.err.contains("--layers"), qPrintable(bad.err));
  }

  // derive: --layers N equals synth --layers N byte for byte; --damp-from L --damp F scales the
  // norms of blocks L.. by exactly F (float multiply of the stored values) and nothing else.
  void deriveLayersAndDamp() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString full = dir.filePath("full.gguf"), part = dir.filePath("part.gguf");
    const QString cut = dir.filePath("cut.gguf"), damped = dir.filePath("damped.gguf");
    QCOMPARE(run_cli({"synth", "--preset", "tiny-llama-3", "--type", "q4_0", "-o", full, "-q"}).exit_code, 0);
    QCOMPARE(run_cli({"synth", "--preset", "tiny-llama-3", "--type", "q4_0", "--layers", "1", "-o", part, "-q"}).exit_code, 0);
    CliRun r = run_cli({"derive", full, "-o", cut, "--layers", "1"});
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    r = run_cli({"derive", full, "-o", damped, "--damp-from", "1", "--damp", "0.5"});
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    const auto a = gguf::GgufFile::open(part.toStdString()), b = gguf::GgufFile::open(cut.toStdString());
    QCOMPARE(b.get_uint("llama.block_count").value_or(0), uint64_t{1});
    QCOMPARE(a.tensors().size(), b.tensors().size());
    for (const gguf::TensorInfo& t : a.tensors()) {
      const gguf::TensorInfo* u = b.find_tensor(t.name);
      QVERIFY2(u, t.name.c_str());
      const auto x = a.tensor_data(t), y = b.tensor_data(*u);
      QVERIFY2(std::equal(x.begin(), x.end(), y.begin(), y.end()), t.name.c_str());
    }
    const auto f = gguf::GgufFile::open(full.toStdString()), d = gguf::GgufFile::open(damped.toStdString());
    QCOMPARE(d.get_uint("llama.block_count").value_or(0), uint64_t{2});
    int scaled = 0;
    for (const gguf::TensorInfo& t : f.tensors()) {
      const auto x = f.tensor_data(t), y = d.tensor_data(*d.find_tensor(t.name));
      const bool norm = t.name == "blk.1.attn_norm.weight" || t.name == "blk.1.ffn_norm.weight";
      if (!norm) {
        QVERIFY2(std::equal(x.begin(), x.end(), y.begin(), y.end()), t.name.c_str());
        continue;
      }
      QCOMPARE(x.size(), y.size());
      for (size_t i = 0; i + 4 <= x.size(); i += 4) {
        float u = 0, v = 0;
        std::memcpy(&u, x.data() + i, 4);
        std::memcpy(&v, y.data() + i, 4);
        QCOMPARE(v, static_cast<float>(u * 0.5));
      }
      ++scaled;
    }
    QCOMPARE(scaled, 2);
    QVERIFY(run_cli({"derive", full, "-o", dir.filePath("x.gguf"), "--layers", "3"}).exit_code != 0);
    QVERIFY(run_cli({"derive", full, "-o", dir.filePath("x.gguf"), "--damp-from", "0", "--damp", "2"}).exit_code != 0);
  }

  // The pair through the speculative bench on the CPU: lossless (greedy output identical with
  // and without the draft), acceptance measured and within [0, 1].
  void benchRunsThePair() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString target = dir.filePath("t.gguf"), draft = dir.filePath("d.gguf");
    QCOMPARE(run_cli({"synth", "--preset", "tiny-llama-3", "--type", "q8_0", "-o", target, "-q"}).exit_code, 0);
    QCOMPARE(run_cli({"synth", "--preset", "tiny-llama-3", "--type", "q8_0", "--layers", "1", "-o", draft, "-q"}).exit_code, 0);
    const CliRun r = run_cli({"bench", "-m", target, "--streams", "2", "--spec", "draft", "--draft", draft, "--gen-tokens",
                              "24", "--spec-repeats", "2", "--json"});
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    const QJsonObject j = QJsonDocument::fromJson(r.out.toUtf8()).object();
    std::printf("acceptance %.3f, speed-up %.3f\n", j["acceptance_rate"].toDouble(), j["speedup"].toDouble());
    QVERIFY(j["outputs_identical"].toBool());
    QCOMPARE(j["spec_repeats"].toInt(), 2);
    QCOMPARE(j["speedup_runs"].toArray().size(), 2);
    QVERIFY(j["drafted_tokens"].toInt() > 0);
    QVERIFY(j["acceptance_rate"].toDouble() >= 0 && j["acceptance_rate"].toDouble() <= 1);
  }
};

QTEST_APPLESS_MAIN(TestCliSpecPair)
#include "test_cli_spec_pair.moc"
