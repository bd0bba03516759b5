// hearth-cli batch and bench --streams as a user runs them (the real executable, a child
// process): one output line per input line in input order, an error line for a bad line, greedy
// text equal to the llama2.c reference continuation.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#include <fstream>

#include "cli_test_support.h"

namespace {

using hearth::test::run_cli;
const QString kModel = hearth::test::kStoriesModel;

QString reference_continuation() {
  std::ifstream in(HEARTH_TEST_DATA_DIR "/stories260K_reference.txt");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  return QString::fromStdString(text).mid(QString("Once upon a time").size());
}

QList<QJsonObject> parse_lines(const QString& out) {
  QList<QJsonObject> lines;
  for (const QString& line : out.split('\n', Qt::SkipEmptyParts)) {
    const auto doc = QJsonDocument::fromJson(line.toUtf8());
    lines.push_back(doc.isObject() ? doc.object() : QJsonObject{{"unparsable", line}});
  }
  return lines;
}

}  // namespace

class TestCliBatch : public QObject {
  Q_OBJECT

 private slots:
  void batchKeepsInputOrderAndSurvivesBadLines() {
    QTemporaryDir dir;
    const QString prompts = dir.filePath("prompts.jsonl");
    {
      std::ofstream f(prompts.toStdString());
      f << R"({"prompt": "Once upon a time", "max_tokens": 40})" << "\n"                       // 1
        << R"({"messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 12})" << "\n"  // 2
        << "this is not JSON\n"                                                                  // 3
        << R"({"prompt": 42})" << "\n"                                                           // 4
        << R"({"prompt": "Lily and Tom", "temperature": 0.9, "seed": 5, "max_tokens": 7})" << "\n"  // 5
        << R"({"neither": true})" << "\n"                                                        // 6
        << R"({"prompt": "The dog", "max_tokens": 3})" << "\n";                                  // 7
    }
    const QString out_path = dir.filePath("out.jsonl");
    const auto r = run_cli({"batch", "-m", kModel, "--prompts", prompts, "--temp", "0", "-n", "20", "--concurrency", "3",
                            "--device", "cpu", "--threads", "2", "--out", out_path});
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    QFile f(out_path);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const auto lines = parse_lines(QString::fromUtf8(f.readAll()));
    QCOMPARE(lines.size(), 7);
    for (int i = 0; i < 7; ++i) QCOMPARE(lines[i]["line"].toInt(), i + 1);
    for (int bad : {2, 3, 5}) {
      QVERIFY2(lines[bad].contains("error") && !lines[bad].contains("text"), qPrintable(QString("line %1").arg(bad + 1)));
    }
    for (int good : {0, 1, 4, 6}) {
      QVERIFY2(!lines[good].contains("error"), qPrintable(lines[good]["error"].toString()));
      QVERIFY(lines[good].contains("timings"));
      QVERIFY(lines[good]["prompt_tokens"].toInt() > 0);
    }
    // Greedy continuation == the llama2.c reference.
    const QString text = lines[0]["text"].toString();
    QCOMPARE(lines[0]["finish_reason"].toString(), QString("length"));
    QCOMPARE(lines[0]["completion_tokens"].toInt(), 40);
    QVERIFY2(!text.isEmpty() && reference_continuation().startsWith(text), qPrintable(text));
    QCOMPARE(lines[6]["completion_tokens"].toInt(), 3);
    QVERIFY(lines[4]["completion_tokens"].toInt() <= 7);

    // The same file to stdout: the same greedy text.
    const auto again = run_cli({"batch", "-m", kModel, "--prompts", prompts, "--temp", "0", "--device", "cpu", "--threads", "2"});
    QVERIFY2(again.exit_code == 0, qPrintable(again.err));
    const auto lines2 = parse_lines(again.out);
    QCOMPARE(lines2.size(), 7);
    QCOMPARE(lines2[0]["text"].toString(), text);
  }

  void batchMissingFileIsAClearError() {
    const auto r = run_cli({"batch", "-m", kModel, "--prompts", "/nonexistent/prompts.jsonl", "--device", "cpu"});
    QCOMPARE(r.exit_code, 1);
    QVERIFY2(r.err.contains("/nonexistent/prompts.jsonl"), qPrintable(r.err));
  }

  void benchStreams() {
    const auto r = run_cli({"bench", "-m", kModel, "--device", "cpu", "--threads", "2", "--streams", "3", "--prompt-tokens", "40",
                            "--gen-tokens", "8", "--shared-prefix", "32", "--json"});
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    const auto j = QJsonDocument::fromJson(r.out.toUtf8()).object();
    QCOMPARE(j["streams"].toInt(), 3);
    QVERIFY(j["aggregate_decode_tokens_per_second"].toDouble() > 0);
    QVERIFY(j["inter_token_latency_ms_p99"].toDouble() >= j["inter_token_latency_ms_p50"].toDouble());
    QVERIFY(j["ttft_ms_cold"].toDouble() > 0);
    QVERIFY(j["prefix_cached_tokens"].toInt() >= 3 * 32);
    QVERIFY(j["kv_waste_percent"].toDouble() >= 0 && j["kv_waste_percent"].toDouble() < 50);
  }
};

QTEST_APPLESS_MAIN(TestCliBatch)
#include "test_cli_batch.moc"
