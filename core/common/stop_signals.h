#pragma once
// Stopping a long-running command (hearth-cli serve) on SIGINT/SIGTERM, or on Windows on Ctrl+C,
// Ctrl+Break and the console window closing. The signals are taken by a waiting thread, not
// handled asynchronously, so stopping can call anything (HttpServer::stop()).
//   StopSignals stop;                      // before any thread starts: POSIX threads inherit the mask
//   std::thread waiter([&] { stop.wait(); server.stop(); });
//   server.run(); stop.interrupt(waiter); waiter.join();
#include <condition_variable>
#include <mutex>
#include <thread>

#ifndef _WIN32
#include <csignal>
#endif

namespace hearth {

class StopSignals {
 public:
  StopSignals();  // POSIX: blocks SIGINT and SIGTERM; Windows: installs a console control handler
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Blocks until a stop signal or interrupt(); returns the signal number (SIGINT = 2, SIGTERM = 15;
  // on Windows the console event plus 100: 100 Ctrl+C, 101 Ctrl+Break, 102 close).
  int wait();
  // Ends a wait() that runs (or will run) in `waiter`, e.g. when the server stopped on its own.
  void interrupt(std::thread& waiter);

 private:
#ifdef _WIN32
  friend struct StopSignalsConsoleHandler;
  void deliver(int signal);
  std::mutex mutex_;
  std::condition_variable changed_;
  int signal_ = -1;  // -1: nothing yet
#else
  sigset_t signals_{};
#endif
};

}  // namespace hearth
