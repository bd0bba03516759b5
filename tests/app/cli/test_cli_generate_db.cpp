// hearth-cli generate --db PATH and bench-restore, as a user runs them (child processes): the
// first run prefills the prompt and saves its KV blocks into the SQLite cache; a second process
// with the same --db and prompt restores the prompt's full blocks from it instead of prefilling
// them, and prints the same greedy text as the first run and as the single-sequence path
// without --db (an independent code path: no engine, no paged prefix cache).
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#include "cli_test_support.h"

namespace {

using hearth::test::kStoriesModel;
using hearth::test::run_cli;

// Long enough for a few full 16-token KV blocks of stories260K's small vocabulary.
const QString kPrompt =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her "
    "friends. One day,";

QJsonObject read_json(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  return QJsonDocument::fromJson(f.readAll()).object();
}

}  // namespace

class TestCliGenerateDb : public QObject {
  Q_OBJECT

 private slots:
  void second_run_restores_the_prompt_from_the_db() {
    QTemporaryDir dir;
    const QString db = dir.filePath("kv-cache.db");
    auto args = [&](const QString& stats) {
      return QStringList{"generate", "-m", kStoriesModel, "-p", kPrompt, "-n", "40", "--temp", "0", "--device", "cpu",
                         "--db", db, "--stats-json", stats};
    };
    const auto first = run_cli(args(dir.filePath("first.json")));
    QVERIFY2(first.exit_code == 0, qPrintable(first.err));
    const auto a = read_json(dir.filePath("first.json"));
    const int prompt = a["prompt_tokens"].toInt();
    qInfo("prompt %d tokens; first run: disk %d, memory %d, prefilled %d", prompt,
          a["restored_from_disk_tokens"].toInt(), a["restored_from_memory_tokens"].toInt(),
          a["prefilled_tokens"].toInt());
    QVERIFY2(prompt >= 32, "the prompt must span at least two full KV blocks");
    QCOMPARE(a["restored_from_disk_tokens"].toInt(), 0);
    QCOMPARE(a["restored_from_memory_tokens"].toInt(), 0);
    QCOMPARE(a["prefilled_tokens"].toInt(), prompt);
    QCOMPARE(a["generated_tokens"].toInt(), 40);
    QVERIFY(QFile::exists(db));

    const auto second = run_cli(args(dir.filePath("second.json")));
    QVERIFY2(second.exit_code == 0, qPrintable(second.err));
    const auto b = read_json(dir.filePath("second.json"));
    const int restored = b["restored_from_disk_tokens"].toInt();
    qInfo("second run: disk %d, memory %d, prefilled %d, first token %.2f ms (first run %.2f ms)", restored,
          b["restored_from_memory_tokens"].toInt(), b["prefilled_tokens"].toInt(),
          b["time_to_first_token_ms"].toDouble(), a["time_to_first_token_ms"].toDouble());
    QCOMPARE(b["prompt_tokens"].toInt(), prompt);
    QVERIFY2(restored > 0, "nothing was restored from the db");
    QCOMPARE(restored % 16, 0);  // whole blocks
    QVERIFY(restored >= (prompt - 1) / 16 * 16 - 16);  // every full block but at most the last
    QCOMPARE(b["restored_from_memory_tokens"].toInt(), 0);
    QCOMPARE(b["prefilled_tokens"].toInt(), prompt - restored);
    QCOMPARE(second.out, first.out);

    // The single-sequence path without --db prints the same greedy continuation.
    const auto plain = run_cli({"generate", "-m", kStoriesModel, "-p", kPrompt, "-n", "40", "--temp", "0", "--device",
                                "cpu", "--stats-json", dir.filePath("plain.json")});
    QVERIFY2(plain.exit_code == 0, qPrintable(plain.err));
    QCOMPARE(plain.out, first.out);
    const auto c = read_json(dir.filePath("plain.json"));
    QCOMPARE(c["restored_from_disk_tokens"].toInt(), 0);
    QCOMPARE(c["prefilled_tokens"].toInt(), prompt);
  }

  void a_different_prompt_prefix_restores_nothing() {
    QTemporaryDir dir;
    const QString db = dir.filePath("kv-cache.db");
    const QString stats = dir.filePath("stats.json");
    auto run = [&](const QString& prompt) {
      return run_cli({"generate", "-m", kStoriesModel, "-p", prompt, "-n", "8", "--temp", "0", "--device", "cpu",
                      "--db", db, "--stats-json", stats});
    };
    QCOMPARE(run(kPrompt).exit_code, 0);
    QCOMPARE(run("The big dog ran to the " + kPrompt).exit_code, 0);
    QCOMPARE(read_json(stats)["restored_from_disk_tokens"].toInt(), 0);
  }

  void an_unusable_db_path_is_a_clear_error() {
    QTemporaryDir dir;
    QFile blocker(dir.filePath("file"));
    QVERIFY(blocker.open(QIODevice::WriteOnly));
    blocker.close();
    const auto r = run_cli({"generate", "-m", kStoriesModel, "-p", "x", "-n", "2", "--device", "cpu", "--db",
                            dir.filePath("file/kv-cache.db")});
    QVERIFY2(r.exit_code != 0 && r.exit_code != -1, qPrintable(r.err));
    QVERIFY(r.out.isEmpty());
    QVERIFY2(r.err.contains("error"), qPrintable(r.err));
  }

  void bench_restore_prints_cold_and_restored_ttft() {
    QTemporaryDir dir;
    const QString db = dir.filePath("kv-cache.db");
    const auto r = run_cli({"bench-restore", "-m", kStoriesModel, "--device", "cpu", "--prompt-tokens", "200",
                            "--db", db});
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    const auto j = QJsonDocument::fromJson(r.out.toUtf8()).object();
    qInfo("%s", qPrintable(r.out.trimmed()));
    QVERIFY(j["cold_ttft_ms"].toDouble() > 0);
    QVERIFY(j["restored_ttft_ms"].toDouble() > 0);
    QVERIFY(j["ratio"].toDouble() > 0);
    QCOMPARE(j["restored_tokens"].toInt(), 192);  // 12 full blocks of the 200 (199 at most: one is computed)
    QVERIFY(j["restored_bytes"].toDouble() > 0);
    QVERIFY(j["restore_gb_per_s"].toDouble() > 0);
    QVERIFY(j["store_read_gb_per_s"].toDouble() > 0);
    QVERIFY(j["kv_write_ms"].toDouble() > 0);         // the restored blocks went into the pool
    QVERIFY(j["restored_forward_ms"].toDouble() > 0);  // and only the rest was computed
    QCOMPARE(j["restored_prefilled_tokens"].toInt(), 8);
    QCOMPARE(j["cold_prefilled_tokens"].toInt(), 200);

    // Two processes: the cold phase fills the db, the restored phase (a fresh process) reads it.
    const auto cold = run_cli({"bench-restore", "-m", kStoriesModel, "--device", "cpu", "--prompt-tokens", "200",
                               "--db", db, "--phase", "cold"});
    QVERIFY2(cold.exit_code == 0, qPrintable(cold.err));
    const auto cj = QJsonDocument::fromJson(cold.out.toUtf8()).object();
    QVERIFY(cj["cold_ttft_ms"].toDouble() > 0);
    const auto warm = run_cli({"bench-restore", "-m", kStoriesModel, "--device", "cpu", "--prompt-tokens", "200",
                               "--db", db, "--phase", "restored", "--cold-ttft-ms",
                               QString::number(cj["cold_ttft_ms"].toDouble())});
    QVERIFY2(warm.exit_code == 0, qPrintable(warm.err));
    const auto wj = QJsonDocument::fromJson(warm.out.toUtf8()).object();
    QCOMPARE(wj["restored_tokens"].toInt(), 192);
    QVERIFY(wj["ratio"].toDouble() > 0);
  }
};

QTEST_APPLESS_MAIN(TestCliGenerateDb)
#include "test_cli_generate_db.moc"
