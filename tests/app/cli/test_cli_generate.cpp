// hearth-cli generate/bench as a user runs them: the real executable in a child process. Only the
// generated text reaches stdout; errors give one clear message and a non-zero exit.
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include "cli_test_support.h"

#include <fstream>

namespace {

const QString kModel = hearth::test::kStoriesModel;

using Run = hearth::test::CliRun;
using hearth::test::run_cli;

QString reference_continuation() {
  std::ifstream in(HEARTH_TEST_DATA_DIR "/stories260K_reference.txt");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  return QString::fromStdString(text).mid(QString("Once upon a time").size());
}

}  // namespace

class TestCliGenerate : public QObject {
  Q_OBJECT

 private slots:
  void greedy_generation_prints_only_the_continuation() {
    QTemporaryDir dir;
    const QString stats = dir.filePath("stats.json");
    const auto r = run_cli({"generate", "-m", kModel, "-p", "Once upon a time", "-n", "40", "--temp", "0",
                            "--device", "cpu", "--stats-json", stats});
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    QVERIFY(r.out.endsWith('\n'));
    const QString text = r.out.chopped(1);
    QVERIFY2(!text.isEmpty() && reference_continuation().startsWith(text),
             qPrintable("stdout was: " + r.out));
    QVERIFY(!text.contains("Once upon a time"));

    QFile f(stats);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const auto j = QJsonDocument::fromJson(f.readAll()).object();
    QCOMPARE(j["prompt_tokens"].toInt(), 5);
    QCOMPARE(j["generated_tokens"].toInt(), 40);
    QVERIFY(j["time_to_first_token_ms"].toDouble() > 0);
    QVERIFY(j["decode_tokens_per_second"].toDouble() > 0);
    QVERIFY(j["device"].toString().startsWith("cpu"));
  }

  void same_seed_same_text() {
    const QStringList args = {"generate", "-m", kModel, "-p", "The cat", "-n", "30", "--temp", "1.0", "--seed", "42"};
    const auto a = run_cli(args), b = run_cli(args);
    QCOMPARE(a.exit_code, 0);
    QCOMPARE(a.out, b.out);
    auto other = args;
    other.last() = "43";
    QVERIFY(run_cli(other).out != a.out);
  }

  void errors_are_clear_and_nonzero() {
    QTemporaryDir dir;
    // A missing file, a truncated model, garbage, a bad option, an unavailable device.
    const QString truncated = dir.filePath("truncated.gguf");
    QFile::copy(kModel, truncated);
    QFile t(truncated);
    QVERIFY(t.open(QIODevice::ReadWrite));
    QVERIFY(t.resize(5000));
    t.close();
    const QString garbage = dir.filePath("garbage.gguf");
    QFile g(garbage);
    QVERIFY(g.open(QIODevice::WriteOnly));
    g.write("this is not a model");
    g.close();

    struct Case { QStringList args; QString expect; };
    const QList<Case> cases = {
        {{"generate", "-m", dir.filePath("missing.gguf"), "-p", "x"}, "missing.gguf"},
        {{"generate", "-m", truncated, "-p", "x"}, "error"},
        {{"generate", "-m", garbage, "-p", "x"}, "error"},
        {{"generate", "-m", kModel, "-p", "x", "--temp", "-1"}, "temp"},
        {{"generate", "-m", kModel}, "prompt"},
        {{"generate", "-m", kModel, "-p", "x", "--device", "tpu"}, "device"},
        {{"bench", "-m", garbage}, "error"},
    };
    for (const auto& c : cases) {
      const auto r = run_cli(c.args);
      QVERIFY2(r.exit_code != 0 && r.exit_code != -1, qPrintable(c.args.join(' ') + " exited " + QString::number(r.exit_code)));
      QVERIFY2(r.out.isEmpty(), qPrintable("stdout not empty for " + c.args.join(' ')));
      QVERIFY2(r.err.contains(c.expect, Qt::CaseInsensitive), qPrintable(c.args.join(' ') + " -> " + r.err));
    }
  }

  void cuda_without_a_device_is_an_error_and_auto_falls_back() {
    const auto explicit_cuda = run_cli({"generate", "-m", kModel, "-p", "x", "-n", "2", "--device", "cuda"});
    if (explicit_cuda.exit_code == 0) QSKIP("a usable CUDA device is present");
    QVERIFY(explicit_cuda.err.contains("cuda", Qt::CaseInsensitive));
    const auto autod = run_cli({"--log-level", "info", "generate", "-m", kModel, "-p", "x", "-n", "2", "--device", "auto"});
    QCOMPARE(autod.exit_code, 0);
    QVERIFY2(autod.err.contains("running on the CPU"), qPrintable(autod.err));
  }

  void bench_prints_throughput_json() {
    const auto r = run_cli({"bench", "-m", kModel, "-p", "32", "-n", "16", "-r", "2", "--json", "--no-roofline"});
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    const auto j = QJsonDocument::fromJson(r.out.toUtf8()).object();
    QVERIFY(j["prompt_tokens_per_second"].toDouble() > 0);
    QVERIFY(j["generation_tokens_per_second"].toDouble() > 0);
    QVERIFY(j["weight_bytes_per_token"].toDouble() > 0);
  }

  void version_is_the_project_version() {
    const auto r = run_cli({"--version"});
    QCOMPARE(r.exit_code, 0);
    QVERIFY2(r.out.contains("Hearth " HEARTH_VERSION), qPrintable(r.out));
  }
};

QTEST_APPLESS_MAIN(TestCliGenerate)
#include "test_cli_generate.moc"
