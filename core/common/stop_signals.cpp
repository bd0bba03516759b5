#include "core/common/stop_signals.h"

#ifdef _WIN32
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>

#include <atomic>
#else
#include <pthread.h>
#endif

namespace hearth {

#ifdef _WIN32

// SetConsoleCtrlHandler takes a plain function and runs it on a thread of its own; the one live
// StopSignals is reached through this pointer (the only process-wide state, as the console itself is).
struct StopSignalsConsoleHandler {
  static inline std::atomic<StopSignals*> current{nullptr};
  static BOOL WINAPI on_event(DWORD event) {
    StopSignals* s = current.load();
    if (!s || (event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT && event != CTRL_CLOSE_EVENT)) return FALSE;
    s->deliver(100 + static_cast<int>(event));
    return TRUE;  // handled: the process is not ended here, the waiter stops it in order
  }
};

StopSignals::StopSignals() {
  StopSignalsConsoleHandler::current.store(this);
  SetConsoleCtrlHandler(&StopSignalsConsoleHandler::on_event, TRUE);
}

StopSignals::~StopSignals() {
  SetConsoleCtrlHandler(&StopSignalsConsoleHandler::on_event, FALSE);
  StopSignalsConsoleHandler::current.store(nullptr);
}

void StopSignals::deliver(int signal) {
  {
    std::lock_guard lock(mutex_);
    if (signal_ < 0) signal_ = signal;
  }
  changed_.notify_all();
}

int StopSignals::wait() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return signal_ >= 0; });
  return signal_;
}

void StopSignals::interrupt(std::thread&) { deliver(0); }

#else

StopSignals::StopSignals() {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
}

StopSignals::~StopSignals() = default;  // the mask stays: a pending signal must not kill the exiting process

int StopSignals::wait() {
  int signal = 0;
  sigwait(&signals_, &signal);
  return signal;
}

// The signal is blocked in every thread, so it stays pending for `waiter` until its sigwait takes it.
void StopSignals::interrupt(std::thread& waiter) { pthread_kill(waiter.native_handle(), SIGTERM); }

#endif

}  // namespace hearth
