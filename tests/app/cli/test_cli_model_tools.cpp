// hearth-cli synth / quantize / info as a user runs them: the real executable in a child process.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include "cli_test_support.h"

namespace {

const QString kStories = hearth::test::kStoriesModel;

using Run = hearth::test::CliRun;
using hearth::test::run_cli;

QJsonObject info_json(const QString& model) {
  const auto r = run_cli({"info", "-m", model, "--json"});
  if (r.exit_code != 0) qWarning("info failed: %s", qPrintable(r.err));
  return QJsonDocument::fromJson(r.out.toUtf8()).object();
}

}  // namespace

class TestCliModelTools : public QObject {
  Q_OBJECT

 private slots:
  void synth_quantize_info() {
    QTemporaryDir dir;
    const QString synth = dir.filePath("tiny-qwen3-q8_0.gguf");
    auto r = run_cli({"synth", "--preset", "tiny-qwen3", "--type", "q8_0", "--out", synth, "--seed", "9"});
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    QVERIFY(r.out.isEmpty());                   // progress goes to stderr
    QVERIFY(r.err.contains("blk.1.ffn_down.weight"));

    auto info = info_json(synth);
    QCOMPARE(info["architecture"].toString(), QString("qwen3"));
    QCOMPARE(info["file_type_name"].toString(), QString("Q8_0"));
    const auto shapes = info["shapes"].toObject();
    QCOMPARE(shapes["source"].toString(), QString("config"));
    QCOMPARE(shapes["head_dim"].toInt(), 128);
    QCOMPARE(shapes["n_embd"].toInt(), 256);
    QVERIFY(shapes["qk_norm"].toBool());
    const auto vocab = info["vocabulary"].toObject();
    QCOMPARE(vocab["size"].toInt(), 1024);
    QCOMPARE(vocab["pre"].toString(), QString("qwen2"));
    QVERIFY(info["chat_template"].toObject()["present"].toBool());
    QCOMPARE(info["file_size"].toInteger(), QFileInfo(synth).size());

    const QString q4 = dir.filePath("tiny-qwen3-q4_k_m.gguf");
    r = run_cli({"quantize", synth, q4, "q4_k_m", "--threads", "2"});
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    QVERIFY2(r.err.contains("warning"), qPrintable(r.err));  // q8_0 source: requantized
    info = info_json(q4);
    QCOMPARE(info["file_type"].toInt(), 15);
    QStringList types;
    for (const auto& t : info["tensor_types"].toArray()) types << t.toObject()["type"].toString();
    types.sort();
    QCOMPARE(types, (QStringList{"f32", "q4_K", "q6_K"}));

    r = run_cli({"info", "-m", q4});
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    QVERIFY(r.out.contains("Q4_K_M"));
    QVERIFY(r.out.contains("qwen3"));
  }

  void quantize_stories_and_generate() {
    QTemporaryDir dir;
    const QString out = dir.filePath("stories-q8_0.gguf");
    auto r = run_cli({"quantize", kStories, out, "q8_0", "-q"});
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    r = run_cli({"generate", "-m", out, "-p", "Once upon a time", "-n", "8", "--temp", "0", "--device", "cpu"});
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    QVERIFY(!r.out.trimmed().isEmpty());
  }

  void bad_input_gives_one_clear_error() {
    QTemporaryDir dir;
    auto r = run_cli({"synth", "--preset", "llama-9000", "--out", dir.filePath("x.gguf")});
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("unknown preset") && r.err.contains("tiny-llama-3"), qPrintable(r.err));

    r = run_cli({"synth", "--preset", "tiny-llama-3", "--type", "q3_k", "--out", dir.filePath("x.gguf")});
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("q4_k_m"), qPrintable(r.err));
    QVERIFY(!QFile::exists(dir.filePath("x.gguf")));

    r = run_cli({"quantize", kStories, dir.filePath("y.gguf"), "q2_k"});
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.contains("unknown type"), qPrintable(r.err));

    const QString garbage = dir.filePath("garbage.gguf");
    QFile f(garbage);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("GGUF but then nothing sensible follows at all");
    f.close();
    r = run_cli({"info", "-m", garbage});
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.startsWith("hearth-cli: error:"), qPrintable(r.err));
    r = run_cli({"quantize", garbage, dir.filePath("z.gguf"), "q8_0"});
    QVERIFY(r.exit_code != 0);
    QVERIFY(!QFile::exists(dir.filePath("z.gguf")));
  }
};

QTEST_APPLESS_MAIN(TestCliModelTools)
#include "test_cli_model_tools.moc"
