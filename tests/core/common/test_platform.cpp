// The portable platform helpers of core/common: executable_path() (the bundled model is found
// beside the program) and StopSignals (hearth-cli serve stops on SIGINT/SIGTERM or Ctrl+C).
// Also run under wine by scripts/windows-test.sh (the Windows implementations).
#include <QTest>

#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#ifndef _WIN32
#include <pthread.h>

#include <csignal>
#endif

#include "core/common/executable_path.h"
#include "core/common/stop_signals.h"

using namespace hearth;

class TestPlatform : public QObject {
  Q_OBJECT

 private slots:
  void executable_path_is_this_test_program() {
    const std::filesystem::path exe = executable_path();
    QVERIFY2(!exe.empty(), "no executable path");
    QVERIFY2(exe.is_absolute(), qPrintable(QString::fromStdString(exe.string())));
    QVERIFY2(std::filesystem::is_regular_file(exe), qPrintable(QString::fromStdString(exe.string())));
    // The file's name is this test's target name (test_platform, test_platform.exe on Windows).
    QCOMPARE(QString::fromStdString(exe.stem().string()), QStringLiteral("test_platform"));
  }

  void interrupt_ends_a_wait() {
    StopSignals stop;
    std::promise<int> got;
    std::thread waiter([&] { got.set_value(stop.wait()); });
    stop.interrupt(waiter);
    auto result = got.get_future();
    QVERIFY2(result.wait_for(std::chrono::seconds(10)) == std::future_status::ready, "wait() did not return");
    waiter.join();
#ifdef _WIN32
    QCOMPARE(result.get(), 0);
#else
    QCOMPARE(result.get(), SIGTERM);
#endif
  }

#ifndef _WIN32
  // A real SIGINT (as from Ctrl+C) sent to the waiting thread is taken by wait(), not by the
  // default action (which would end the test). Thread-directed: Qt Test's watchdog thread does not
  // block the signal.
  void sigint_is_taken_by_wait() {
    StopSignals stop;
    std::promise<int> got;
    std::thread waiter([&] { got.set_value(stop.wait()); });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    QCOMPARE(pthread_kill(waiter.native_handle(), SIGINT), 0);
    auto result = got.get_future();
    QVERIFY2(result.wait_for(std::chrono::seconds(10)) == std::future_status::ready, "wait() did not return");
    waiter.join();
    QCOMPARE(result.get(), SIGINT);
  }
#endif
};

QTEST_APPLESS_MAIN(TestPlatform)
#include "test_platform.moc"
