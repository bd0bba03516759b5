// Model downloads (app/gui/download_*.cpp) against a local HTTP server (local_http_server.h):
// a complete download with its SHA-256, pause and resume through Range/If-Range, a file that
// changed between pause and resume, a hash mismatch, a 404, a connection closed mid-body,
// hostile names, refused redirects and URLs, size limits; plus the catalog and the memory
// estimate. The bodies are fresh random bytes each run (the seed is printed); the expected
// SHA-256 is computed in one pass over the whole body, not by the downloader's incremental path.
#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QRandomGenerator>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <memory>

#include "app/gui/download_manager.h"
#include "app/gui/model_catalog.h"
#include "app/gui/model_memory_estimate.h"
#include "core/gguf/gguf_file.h"
#include "core/model/model_info.h"
#include "hearth/version.h"
#include "tests/app/gui/local_http_server.h"

using hearth::DownloadJob;
using hearth::DownloadManager;
using hearth_test::LocalHttpServer;

namespace {

QByteArray sha256_hex(const QByteArray& bytes) { return QCryptographicHash::hash(bytes, QCryptographicHash::Sha256).toHex(); }

QByteArray file_bytes(const QString& path) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

bool wait_state(DownloadJob* job, const char* state, int timeout_ms = 20000) {
  return QTest::qWaitFor([&] { return job->state() == QLatin1String(state); }, timeout_ms);
}

}  // namespace

class TestModelDownload : public QObject {
  Q_OBJECT

 private:
  std::unique_ptr<QTemporaryDir> dir_;
  std::unique_ptr<LocalHttpServer> server_;
  std::unique_ptr<DownloadManager> manager_;
  QRandomGenerator random_;

  QString models_dir() const { return dir_->filePath(QStringLiteral("models")); }
  QByteArray random_body(qsizetype size) {
    QByteArray body(size, Qt::Uninitialized);
    for (auto& b : body) b = static_cast<char>(random_.bounded(256));
    return body;
  }
  void make_manager(hearth::DownloadPolicy policy = {}, hearth::ModelCatalog catalog = {}) {
    policy.allow_http_localhost = true;
    manager_.reset();
    manager_ = std::make_unique<DownloadManager>(models_dir(), policy, std::move(catalog));
  }
  // Nothing but `expected` files in the models folder (no .part left behind).
  QStringList models_folder() const { return QDir(models_dir()).entryList(QDir::Files | QDir::Hidden, QDir::Name); }

 private slots:
  void initTestCase() {
    const quint32 seed = QRandomGenerator::global()->generate();
    qInfo("random seed: %u", seed);
    random_.seed(seed);
  }

  void init() {
    dir_ = std::make_unique<QTemporaryDir>();
    QVERIFY(dir_->isValid());
    server_ = std::make_unique<LocalHttpServer>();
    QVERIFY(server_->listen());
    make_manager();
  }

  void cleanup() {
    manager_.reset();
    server_.reset();
    dir_.reset();
  }

  void completesAndChecksTheHash() {
    const QByteArray body = random_body(3 * 1024 * 1024 + 17);
    server_->set_file("/files/tiny.gguf", {body, "\"v1\"", {}, -1});
    DownloadJob* job = manager_->downloadUrl(server_->url(QStringLiteral("/files/tiny.gguf")), QString::fromLatin1(sha256_hex(body)));
    QVERIFY2(job, qPrintable(manager_->error()));
    QSignalSpy downloaded(manager_.get(), &DownloadManager::downloaded);
    QVERIFY2(wait_state(job, "done"), qPrintable(job->state() + ": " + job->error()));
    QVERIFY(job->verified());
    QCOMPARE(job->sha256().toLatin1(), sha256_hex(body));
    QCOMPARE(job->received(), double(body.size()));
    QCOMPARE(job->total(), double(body.size()));
    const QString path = QDir(models_dir()).filePath(QStringLiteral("tiny.gguf"));
    QCOMPARE(job->path(), path);
    QVERIFY(file_bytes(path) == body);
    QCOMPARE(models_folder(), QStringList{QStringLiteral("tiny.gguf")});
    QTRY_COMPARE(downloaded.size(), 1);
    QCOMPARE(server_->log.size(), 1);
    QCOMPARE(server_->log[0].headers.value("user-agent"), QByteArray("Hearth/") + hearth::kVersion);
    QVERIFY(!server_->log[0].headers.contains("range"));
    // The same name again is refused unless the caller says to replace it.
    QVERIFY(!manager_->downloadUrl(server_->url(QStringLiteral("/files/tiny.gguf"))));
    QVERIFY2(manager_->error().contains(QLatin1String("already")), qPrintable(manager_->error()));
    DownloadJob* again = manager_->downloadUrl(server_->url(QStringLiteral("/files/tiny.gguf")), {}, true);
    QVERIFY(again);
    QVERIFY2(wait_state(again, "done"), qPrintable(again->error()));
    QVERIFY(file_bytes(path) == body);
  }

  void pauseAndResumeUseRange() {
    const QByteArray body = random_body(4 * 1024 * 1024 + 5);
    server_->set_file("/m.gguf", {body, "\"etag-1\"", {}, -1});
    server_->chunk_bytes = 32 * 1024;
    server_->chunk_interval_ms = 10;  // about 3 MB/s: 4 MB take over a second
    DownloadJob* job = manager_->downloadUrl(server_->url(QStringLiteral("/m.gguf")), QString::fromLatin1(sha256_hex(body)));
    QVERIFY(job);
    // Rate and time left appear once a rate window has passed.
    QVERIFY(QTest::qWaitFor([&] { return job->bytes_per_second() > 0 || job->state() != QLatin1String("downloading"); }, 20000));
    QCOMPARE(job->state(), QStringLiteral("downloading"));
    QVERIFY2(job->bytes_per_second() < 3.2e6 * 4, qPrintable(QString::number(job->bytes_per_second())));
    QVERIFY(job->eta_seconds() > 0);
    QVERIFY2(job->progress_text().contains(QLatin1String("/s")), qPrintable(job->progress_text()));
    QVERIFY(job->progress() > 0 && job->progress() < 1);
    job->pause();
    QVERIFY(wait_state(job, "paused"));
    const qint64 kept = static_cast<qint64>(job->received());
    QVERIFY2(kept > 0 && kept < body.size(), qPrintable(QString::number(kept)));
    const QString part = QDir(models_dir()).filePath(QStringLiteral("m.gguf.part"));
    QCOMPARE(QFileInfo(part).size(), kept);
    QVERIFY(file_bytes(part) == body.left(kept));
    server_->chunk_interval_ms = 0;
    job->resume();
    QVERIFY2(wait_state(job, "done"), qPrintable(job->error()));
    QVERIFY(job->verified());
    QVERIFY(job->note().isEmpty());
    QVERIFY(file_bytes(QDir(models_dir()).filePath(QStringLiteral("m.gguf"))) == body);
    QCOMPARE(server_->log.size(), 2);
    const auto& resumed = server_->log[1];
    QCOMPARE(resumed.headers.value("range"), "bytes=" + QByteArray::number(kept) + "-");
    QCOMPARE(resumed.headers.value("if-range"), QByteArray("\"etag-1\""));
    QCOMPARE(resumed.status, 206);
    QCOMPARE(models_folder(), QStringList{QStringLiteral("m.gguf")});
  }

  void changedFileRestartsFromZero() {
    const QByteArray first = random_body(2 * 1024 * 1024);
    const QByteArray second = random_body(2 * 1024 * 1024 + 100);
    server_->set_file("/m.gguf", {first, "\"old\"", {}, -1});
    server_->chunk_bytes = 32 * 1024;
    server_->chunk_interval_ms = 5;
    DownloadJob* job = manager_->downloadUrl(server_->url(QStringLiteral("/m.gguf")));
    QVERIFY(job);
    QVERIFY(QTest::qWaitFor([&] { return job->received() >= 512 * 1024; }, 20000));
    job->pause();
    QVERIFY(wait_state(job, "paused"));
    server_->set_file("/m.gguf", {second, "\"new\"", {}, -1});
    server_->chunk_interval_ms = 0;
    job->resume();
    QVERIFY2(wait_state(job, "done"), qPrintable(job->error()));
    QVERIFY2(!job->note().isEmpty(), "the restart is explained");
    QVERIFY(!job->verified());  // no hash known: kept, marked unverified, its SHA-256 shown
    QCOMPARE(job->sha256().toLatin1(), sha256_hex(second));
    QVERIFY(file_bytes(QDir(models_dir()).filePath(QStringLiteral("m.gguf"))) == second);
    QCOMPARE(server_->log.size(), 2);
    QCOMPARE(server_->log[1].headers.value("if-range"), QByteArray("\"old\""));
    QCOMPARE(server_->log[1].status, 200);
  }

  void serverHashHeaderIsChecked() {
    // X-Linked-Etag (Hugging Face's LFS object id: the content's SHA-256) is used when no hash
    // was given: a wrong one fails the download.
    const QByteArray body = random_body(100000);
    server_->set_file("/good.gguf", {body, "\"g\"", {{"X-Linked-Etag", "\"" + sha256_hex(body) + "\""}}, -1});
    server_->set_file("/bad.gguf", {body, "\"b\"", {{"X-Linked-Etag", "\"" + sha256_hex("other") + "\""}}, -1});
    DownloadJob* good = manager_->downloadUrl(server_->url(QStringLiteral("/good.gguf")));
    DownloadJob* bad = manager_->downloadUrl(server_->url(QStringLiteral("/bad.gguf")));
    QVERIFY(good && bad);
    QVERIFY2(wait_state(good, "done"), qPrintable(good->error()));
    QVERIFY(good->verified());
    QVERIFY(wait_state(bad, "failed"));
    QVERIFY2(bad->error().contains(QLatin1String("SHA-256 mismatch")), qPrintable(bad->error()));
    QCOMPARE(models_folder(), QStringList{QStringLiteral("good.gguf")});

    // As Hugging Face does it: the hash is on the redirect to the CDN, not on the file's answer.
    server_->set_file("/cdn/blob", {body, "\"cdn\"", {}, -1});
    server_->set_redirect("/hf/good-hf.gguf", server_->url(QStringLiteral("/cdn/blob")).toLatin1(),
                          "X-Linked-Etag: \"" + sha256_hex(body) + "\"\r\n");
    server_->set_redirect("/hf/bad-hf.gguf", server_->url(QStringLiteral("/cdn/blob")).toLatin1(),
                          "X-Linked-Etag: \"" + sha256_hex("other") + "\"\r\n");
    DownloadJob* good_hf = manager_->downloadUrl(server_->url(QStringLiteral("/hf/good-hf.gguf")));
    DownloadJob* bad_hf = manager_->downloadUrl(server_->url(QStringLiteral("/hf/bad-hf.gguf")));
    QVERIFY(good_hf && bad_hf);
    QVERIFY2(wait_state(good_hf, "done"), qPrintable(good_hf->error()));
    QVERIFY(good_hf->verified());
    QVERIFY(wait_state(bad_hf, "failed"));
    QVERIFY2(bad_hf->error().contains(QLatin1String("SHA-256 mismatch")), qPrintable(bad_hf->error()));
    QCOMPARE(models_folder(), (QStringList{QStringLiteral("good-hf.gguf"), QStringLiteral("good.gguf")}));
  }

  void hashMismatchKeepsNothing() {
    const QByteArray body = random_body(300000);
    server_->set_file("/m.gguf", {body, "\"v\"", {}, -1});
    QByteArray wrong = body;
    wrong[12345] = static_cast<char>(wrong[12345] ^ 1);
    DownloadJob* job = manager_->downloadUrl(server_->url(QStringLiteral("/m.gguf")), QString::fromLatin1(sha256_hex(wrong)));
    QVERIFY(job);
    QVERIFY(wait_state(job, "failed"));
    QVERIFY2(job->error().contains(QLatin1String("SHA-256 mismatch")), qPrintable(job->error()));
    QVERIFY2(job->error().contains(QString::fromLatin1(sha256_hex(body))), qPrintable(job->error()));
    QVERIFY(!job->resumable());
    QVERIFY(models_folder().isEmpty());
  }

  void notFoundIsAClearError() {
    DownloadJob* job = manager_->downloadUrl(server_->url(QStringLiteral("/missing.gguf")));
    QVERIFY(job);
    QVERIFY(wait_state(job, "failed"));
    QVERIFY2(job->error().contains(QLatin1String("404")), qPrintable(job->error()));
    QVERIFY(models_folder().isEmpty());
  }

  void connectionClosedMidBodyCanResume() {
    const QByteArray body = random_body(1024 * 1024);
    server_->set_file("/m.gguf", {body, "\"v\"", {}, 400000});
    DownloadJob* job = manager_->downloadUrl(server_->url(QStringLiteral("/m.gguf")), QString::fromLatin1(sha256_hex(body)));
    QVERIFY(job);
    QVERIFY(wait_state(job, "failed"));
    QVERIFY2(job->resumable(), qPrintable(job->error()));
    QVERIFY2(job->error().contains(QLatin1String("after")), qPrintable(job->error()));
    QVERIFY(!QFileInfo::exists(QDir(models_dir()).filePath(QStringLiteral("m.gguf"))));
    QCOMPARE(job->received(), 400000.0);
    server_->file("/m.gguf").close_after = -1;
    job->resume();
    QVERIFY2(wait_state(job, "done"), qPrintable(job->error()));
    QVERIFY(job->verified());
    QCOMPARE(server_->log.last().headers.value("range"), QByteArray("bytes=400000-"));
    QVERIFY(file_bytes(QDir(models_dir()).filePath(QStringLiteral("m.gguf"))) == body);
  }

  void hostileNamesAreNotUsed() {
    // The URL's last segment (decoded) is the name, reduced to safe characters; the server's
    // Content-Disposition is ignored; ../ cannot leave the models folder.
    QCOMPARE(hearth::model_file_name_from_url(QUrl(QStringLiteral("https://h/a/..%2F..%2Fevil.gguf"))), QStringLiteral("evil.gguf"));
    QCOMPARE(hearth::model_file_name_from_url(QUrl(QStringLiteral("https://h/a/..%5C..%5Cevil.gguf"))), QStringLiteral("evil.gguf"));
    QCOMPARE(hearth::model_file_name_from_url(QUrl(QStringLiteral("https://h/.hidden.gguf"))), QStringLiteral("hidden.gguf"));
    QCOMPARE(hearth::model_file_name_from_url(QUrl(QStringLiteral("https://h/we%20ird;na%00me.gguf?x=1"))), QStringLiteral("we_ird_na_me.gguf"));
    QVERIFY(hearth::model_file_name_from_url(QUrl(QStringLiteral("https://h/model.bin"))).isEmpty());
    QVERIFY(hearth::model_file_name_from_url(QUrl(QStringLiteral("https://h/dir/"))).isEmpty());
    QVERIFY(hearth::model_file_name_from_url(QUrl(QStringLiteral("https://h/..%2F.gguf"))).isEmpty());
    QVERIFY(!hearth::is_safe_model_file_name(QStringLiteral("../x.gguf")));
    QVERIFY(!hearth::is_safe_model_file_name(QStringLiteral("a/b.gguf")));

    const QByteArray body = random_body(5000);
    const QByteArray hostile_path = "/dl/sub/..%2F..%2F..%2Fevil.gguf";
    server_->set_file(hostile_path, {body, "\"e\"", {{"Content-Disposition", "attachment; filename=\"../../pwned.gguf\""}}, -1});
    DownloadJob* job = manager_->downloadUrl(server_->url(QString::fromLatin1(hostile_path)));
    QVERIFY2(job, qPrintable(manager_->error()));
    QCOMPARE(job->file_name(), QStringLiteral("evil.gguf"));
    QVERIFY2(wait_state(job, "done"), qPrintable(job->error()));
    QCOMPARE(server_->log.last().path, hostile_path);
    QCOMPARE(job->path(), QDir(models_dir()).filePath(QStringLiteral("evil.gguf")));
    QVERIFY(file_bytes(job->path()) == body);
    QCOMPARE(models_folder(), QStringList{QStringLiteral("evil.gguf")});
    QVERIFY(!QFileInfo::exists(dir_->filePath(QStringLiteral("pwned.gguf"))));
    QVERIFY(!QFileInfo::exists(dir_->filePath(QStringLiteral("evil.gguf"))));
  }

  void redirectsAndUrlsArePoliced() {
    const QByteArray body = random_body(10000);
    server_->set_file("/real.gguf", {body, "\"r\"", {}, -1});
    server_->set_redirect("/to-local.gguf", server_->url(QStringLiteral("/real.gguf")).toLatin1());
    server_->set_redirect("/to-http.gguf", "http://example.com/x.gguf");
    DownloadJob* ok = manager_->downloadUrl(server_->url(QStringLiteral("/to-local.gguf")));
    QVERIFY(ok);
    QVERIFY2(wait_state(ok, "done"), qPrintable(ok->error()));
    QCOMPARE(ok->file_name(), QStringLiteral("to-local.gguf"));  // the name the user's URL gave
    QVERIFY(file_bytes(ok->path()) == body);
    DownloadJob* refused = manager_->downloadUrl(server_->url(QStringLiteral("/to-http.gguf")));
    QVERIFY(refused);
    QVERIFY(wait_state(refused, "failed"));
    QVERIFY2(refused->error().contains(QLatin1String("redirect refused")), qPrintable(refused->error()));
    QVERIFY(!QFileInfo::exists(QDir(models_dir()).filePath(QStringLiteral("to-http.gguf"))));

    QVERIFY(!manager_->downloadUrl(QStringLiteral("http://example.com/a.gguf")));
    QVERIFY2(manager_->error().contains(QLatin1String("https")), qPrintable(manager_->error()));
    QVERIFY(!manager_->downloadUrl(QStringLiteral("ftp://example.com/a.gguf")));
    QVERIFY(!manager_->downloadUrl(QStringLiteral("https://example.com/a.txt")));
    QVERIFY(!manager_->downloadUrl(QStringLiteral("https://example.com/a.gguf"), QStringLiteral("abc")));
    QCOMPARE(hearth::check_download_url(QUrl(QStringLiteral("http://127.0.0.1/a.gguf")), hearth::DownloadPolicy{}).isEmpty(), false);
    QVERIFY(hearth::check_download_url(QUrl(QStringLiteral("https://huggingface.co/a.gguf")), hearth::DownloadPolicy{}).isEmpty());
  }

  void sizeLimitIsEnforced() {
    hearth::DownloadPolicy policy;
    policy.max_bytes = 1000;
    make_manager(policy);
    server_->set_file("/big.gguf", {random_body(5000), "\"b\"", {}, -1});
    DownloadJob* job = manager_->downloadUrl(server_->url(QStringLiteral("/big.gguf")));
    QVERIFY(job);
    QVERIFY(wait_state(job, "failed"));
    QVERIFY2(job->error().contains(QLatin1String("limit")), qPrintable(job->error()));
    QVERIFY(models_folder().isEmpty());
  }

  void cancelRemovesThePart() {
    server_->set_file("/m.gguf", {random_body(2 * 1024 * 1024), "\"v\"", {}, -1});
    server_->chunk_bytes = 16 * 1024;
    server_->chunk_interval_ms = 5;
    DownloadJob* job = manager_->downloadUrl(server_->url(QStringLiteral("/m.gguf")));
    QVERIFY(job);
    QVERIFY(QTest::qWaitFor([&] { return job->received() > 0; }, 20000));
    job->cancel();
    QVERIFY(wait_state(job, "cancelled"));
    QVERIFY(models_folder().isEmpty());
    manager_->removeJob(job);
    QTRY_VERIFY(manager_->jobs().isEmpty());
  }

  void catalogEntriesDownloadUnderTheirName() {
    const QByteArray body = random_body(20000);
    server_->set_file("/repo/resolve/main/Server-Name.gguf", {body, "\"c\"", {}, -1});
    hearth::ModelCatalog catalog;
    hearth::CatalogEntry entry;
    entry.name = QStringLiteral("Test model");
    entry.file = QStringLiteral("catalog-name.gguf");
    entry.url = server_->url(QStringLiteral("/repo/resolve/main/Server-Name.gguf"));
    entry.size = body.size();
    entry.sha256 = QString::fromLatin1(sha256_hex(body));
    catalog.entries.push_back(entry);
    make_manager({}, catalog);
    QCOMPARE(manager_->catalog().size(), 1);
    DownloadJob* job = manager_->downloadCatalogEntry(0);
    QVERIFY2(job, qPrintable(manager_->error()));
    QVERIFY2(wait_state(job, "done"), qPrintable(job->error()));
    QVERIFY(job->verified());
    QVERIFY(manager_->isInstalled(QStringLiteral("catalog-name.gguf")));
    QCOMPARE(manager_->installed_revision(), 1);
    QCOMPARE(models_folder(), QStringList{QStringLiteral("catalog-name.gguf")});
    QVERIFY(!manager_->downloadCatalogEntry(1));
  }

  void bundledCatalogIsValid() {
    const hearth::ModelCatalog catalog = hearth::bundled_model_catalog();
    QVERIFY2(catalog.errors.isEmpty(), qPrintable(catalog.errors.join('\n')));
    QVERIFY(catalog.entries.size() >= 3);
    for (const auto& e : catalog.entries) {
      QVERIFY(e.url.startsWith(QLatin1String("https://huggingface.co/")));
      QVERIFY2(e.url.endsWith(QLatin1Char('/') + e.file), qPrintable(e.url));
    }
    const hearth::ModelCatalog bad = hearth::parse_model_catalog(
        "{\"models\": ["
        "{\"name\": \"a\", \"file\": \"../a.gguf\", \"url\": \"https://h/a.gguf\", \"size\": 1},"
        "{\"name\": \"b\", \"file\": \"b.gguf\", \"url\": \"http://h/b.gguf\", \"size\": 1},"
        "{\"name\": \"c\", \"file\": \"c.gguf\", \"url\": \"https://h/c.gguf\", \"size\": 1, \"sha256\": \"XYZ\"},"
        "{\"name\": \"d\", \"file\": \"d.gguf\", \"url\": \"https://h/d.gguf\", \"size\": 0},"
        "{\"name\": \"e\", \"file\": \"e.gguf\", \"url\": \"https://h/e.gguf\", \"size\": 5}]}");
    QCOMPARE(bad.errors.size(), 4);
    QCOMPARE(bad.entries.size(), size_t{1});
    QCOMPARE(bad.entries[0].file, QStringLiteral("e.gguf"));
    QCOMPARE(hearth::parse_model_catalog("not json").errors.size(), 1);
  }

  void memoryEstimateFollowsTheShapes() {
    const QString path = QStringLiteral(HEARTH_SOURCE_DIR "/resources/models/stories260K.gguf");
    const auto file = hearth::gguf::GgufFile::open(path.toStdString());
    const hearth::ModelInfo info = hearth::read_model_info(file);
    const auto& s = info.shapes;
    // KV: K and V, F16 (2 bytes), per layer, n_head_kv * head_dim each, in 16-token blocks:
    // 100 positions take 7 blocks = 112 positions.
    const hearth::ModelMemoryEstimate e = hearth::estimate_model_memory(info, 100);
    QCOMPARE(e.context, int64_t{100});
    QCOMPARE(e.kv_cache, double(112 * 2 * s.n_layer * s.n_head_kv * s.head_dim * 2));
    QCOMPARE(e.weights, double(info.tensor_bytes));
    QVERIFY(e.buffers > 512.0 * (1 << 20));  // the CUDA context margin at least
    QCOMPARE(e.total(), e.weights + e.kv_cache + e.buffers);
    const hearth::ModelMemoryEstimate by_default = hearth::estimate_model_memory(info, 0);
    QCOMPARE(by_default.context, std::min<int64_t>(s.n_ctx_train, 4096));

    const QVariantMap inspected = hearth::inspect_model_file(path, 256);
    QVERIFY2(!inspected.contains(QStringLiteral("error")), qPrintable(inspected.value(QStringLiteral("error")).toString()));
    const QVariantMap memory = inspected.value(QStringLiteral("memory")).toMap();
    QCOMPARE(memory.value(QStringLiteral("context")).toLongLong(), 256);
    QVERIFY(!memory.value(QStringLiteral("verdict")).toString().isEmpty());
    QVERIFY(hearth::inspect_model_file(dir_->filePath(QStringLiteral("none.gguf")), 0).contains(QStringLiteral("error")));
    QCOMPARE(memory.value(QStringLiteral("layers")).toLongLong(), s.n_layer);
  }

  // Partial offload advice: the first layers whose bytes + KV share + the buffers fit, by hand.
  void gpuLayersFittingCountsWholeLayers() {
    hearth::ModelMemoryEstimate e;
    e.weights = 1000;  // 4 layers of 200 + a 200-byte head and embedding
    e.kv_cache = 40;   // 10 per layer
    e.buffers = 100;
    const std::vector<double> layers{200, 200, 200, 200};
    QCOMPARE(hearth::gpu_layers_fitting(e, layers, 1140), int64_t{4});  // the whole model fits
    QCOMPARE(hearth::gpu_layers_fitting(e, layers, 1139), int64_t{3});  // 100 + 3 * 210 = 730 <= 1139; short of the whole: at most 3
    QCOMPARE(hearth::gpu_layers_fitting(e, layers, 730), int64_t{3});
    QCOMPARE(hearth::gpu_layers_fitting(e, layers, 729), int64_t{2});
    QCOMPARE(hearth::gpu_layers_fitting(e, layers, 310), int64_t{1});
    QCOMPARE(hearth::gpu_layers_fitting(e, layers, 309), int64_t{0});
    QCOMPARE(hearth::gpu_layers_fitting(e, {}, 10), int64_t{0});
  }
};

QTEST_GUILESS_MAIN(TestModelDownload)
#include "test_model_download.moc"
