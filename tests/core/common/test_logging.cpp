// Logging goes where configure_logging says, at the level it says; bad settings are clear errors.
#include <QTemporaryDir>
#include <QTest>

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/common/checked_math.h"
#include "core/common/error.h"
#include "core/common/logging.h"

using namespace hearth;

class TestLogging : public QObject {
  Q_OBJECT

 private slots:
  void writes_the_rotating_file_at_the_chosen_level() {
    QTemporaryDir dir;
    LogConfig config;
    config.level = "info";
    config.to_stderr = false;
    config.file = std::filesystem::path(dir.path().toStdString()) / "logs" / "hearth.log";
    configure_logging(config);
    spdlog::debug("hidden debug line");
    spdlog::info("visible info line");
    spdlog::default_logger()->flush();
    std::ifstream in(*config.file);
    std::stringstream ss;
    ss << in.rdbuf();
    QVERIFY(ss.str().find("visible info line") != std::string::npos);
    QVERIFY(ss.str().find("hidden debug line") == std::string::npos);
  }

  void bad_level_is_an_error() {
    LogConfig config;
    config.level = "loud";
    QVERIFY_THROWS_EXCEPTION(Error, configure_logging(config));
  }

  void unwritable_file_is_an_error() {
    LogConfig config;
    config.to_stderr = false;
    config.file = "/proc/hearth-cannot-write-here/hearth.log";
    QVERIFY_THROWS_EXCEPTION(Error, configure_logging(config));
  }

  void data_dir_follows_xdg() {
    const QByteArray old = qgetenv("XDG_DATA_HOME");
    qputenv("XDG_DATA_HOME", "/tmp/xdg-test");
    QCOMPARE(user_data_dir(), std::filesystem::path("/tmp/xdg-test/hearth"));
    qunsetenv("XDG_DATA_HOME");
    qputenv("HOME", "/home/someone");
    QCOMPARE(user_data_dir(), std::filesystem::path("/home/someone/.local/share/hearth"));
    if (!old.isEmpty()) qputenv("XDG_DATA_HOME", old);
  }

  void checked_math_detects_overflow() {
    uint64_t out = 0;
    QVERIFY(checked_mul<uint64_t>(1ull << 32, 1ull << 31, out));
    QVERIFY(!checked_mul<uint64_t>(1ull << 32, 1ull << 32, out));
    QVERIFY(!checked_add<uint64_t>(~0ull, 1, out));
    QVERIFY(checked_align_up(33, 32, out) && out == 64);
    QVERIFY(!checked_align_up(~0ull - 3, 32, out));
  }
};

QTEST_APPLESS_MAIN(TestLogging)
#include "test_logging.moc"
