#pragma once
// Joules per request (issue 9): the device's energy counter (Backend::energy_joules(), NVML's
// total energy on CUDA) is read at most every `interval` seconds of engine work, and each
// interval's energy is shared among the requests that computed tokens in it, in proportion to
// the tokens each computed (prompt chunks, decode tokens, draft tokens being verified). Idle time
// between requests is charged to nobody. A request that finishes between two readings gets a
// fresh reading when the last one is at least `min_interval` old, else its unread tokens are
// charged at the rate of the last interval (and that charge is taken out of the interval's
// energy when it is read, so every joule is counted once).
//
// Header-only; engine thread only. All times in seconds of one monotonic clock.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

namespace hearth {

class EnergyLedger {
 public:
  using Reader = std::function<std::optional<double>()>;  // the counter, joules; nullopt: none

  EnergyLedger(double interval = 0.075, double min_interval = 0.02) : interval_(interval), min_interval_(min_interval) {}

  // Before a step that computes tokens: starts an interval if none is open.
  void begin_step(double now, const Reader& read) {
    if (base_ || disabled_) return;
    base_ = read_counter(read);
    base_time_ = now;
  }

  // `tokens` computed for request `id` in the step that just ran.
  void add_tokens(uint64_t id, int64_t tokens) {
    if (disabled_ || tokens <= 0) return;
    accounts_[id].unread_tokens += tokens;
    unread_tokens_ += tokens;
  }

  // After a step: reads the counter when the interval is over.
  void end_step(double now, const Reader& read) {
    if (base_ && now - base_time_ >= interval_) sample(now, read);
  }

  // The request's joules so far, and forgets it (it finished); nullopt without a counter.
  std::optional<double> settle(uint64_t id, double now, const Reader& read) {
    auto it = accounts_.find(id);
    if (disabled_ || !base_) {
      if (it != accounts_.end()) accounts_.erase(it);
      return disabled_ ? std::nullopt : std::optional<double>(0.0);
    }
    if (it == accounts_.end()) return 0.0;
    if (it->second.unread_tokens > 0) {
      const bool fresh = (now - base_time_ >= min_interval_ || !rate_) && sample(now, read);
      it = accounts_.find(id);
      if (!fresh && it != accounts_.end() && rate_) {
        // Charged at the last rate; the interval's reading later gives the rest to the others.
        // (No rate yet and no news from the counter: nothing is known, nothing is charged.)
        const double charge = *rate_ * static_cast<double>(it->second.unread_tokens);
        it->second.joules += charge;
        estimated_joules_ += charge;
        unread_tokens_ -= it->second.unread_tokens;
        it->second.unread_tokens = 0;
      }
    }
    it = accounts_.find(id);
    if (it == accounts_.end()) return disabled_ ? std::nullopt : std::optional<double>(0.0);
    unread_tokens_ -= it->second.unread_tokens;  // still unread: unmeasured, and no one else's
    const double joules = it->second.joules;
    accounts_.erase(it);
    if (disabled_) return std::nullopt;
    return joules;
  }

  // Nothing is running: the open interval (idle from here on) is closed without charging anyone.
  void idle(double now, const Reader& read) {
    if (base_ && unread_tokens_ > 0) sample(now, read);
    base_.reset();
    estimated_joules_ = 0;
    unread_tokens_ = 0;
    for (auto& [id, a] : accounts_) a.unread_tokens = 0;
  }

  bool measuring() const { return !disabled_; }

 private:
  struct Account {
    int64_t unread_tokens = 0;  // computed since the last reading
    double joules = 0;
  };

  std::optional<double> read_counter(const Reader& read) {
    std::optional<double> j = read ? read() : std::nullopt;
    if (!j) {
      disabled_ = true;  // no counter on this backend: stop asking
      accounts_.clear();
      unread_tokens_ = 0;
    }
    return j;
  }

  // Reads the counter and shares (counter - base - already estimated) over the unread tokens.
  // A reading equal to the base is no news (NVML's counter advances in steps of tens of
  // milliseconds): the interval stays open. False then (or without a counter).
  bool sample(double now, const Reader& read) {
    const std::optional<double> j = read_counter(read);
    if (!j) return false;
    if (*j == *base_) return false;
    const double spent = std::max(0.0, *j - *base_);
    const double rest = std::max(0.0, spent - estimated_joules_);
    if (unread_tokens_ > 0) {
      for (auto& [id, a] : accounts_) {
        a.joules += rest * static_cast<double>(a.unread_tokens) / static_cast<double>(unread_tokens_);
        a.unread_tokens = 0;
      }
      rate_ = rest / static_cast<double>(unread_tokens_);
    }
    unread_tokens_ = 0;
    estimated_joules_ = 0;
    base_ = j;
    base_time_ = now;
    return true;
  }

  double interval_, min_interval_;
  bool disabled_ = false;
  std::optional<double> base_;       // the counter at the start of the open interval
  double base_time_ = 0;
  std::optional<double> rate_;       // joules per token of the last interval
  double estimated_joules_ = 0;      // charged at rate_ to requests that finished in the open interval
  int64_t unread_tokens_ = 0;
  std::unordered_map<uint64_t, Account> accounts_;
};

// The device's energy counter as the engine thread reads it. Reads go straight to the backend
// while they are quick; one that takes longer than `slow` (NVML's total energy took ~3 ms per
// read on an H200, in the engine thread's step time) moves reading to a helper thread that polls
// every `period` and keeps the latest value, which the engine thread then reads for free (at
// most `period` old; the ledger's attribution tolerates that, and its sum stays exact). The
// backend must outlive this object; `read` must be safe to call from the helper thread.
class EnergyCounter {
 public:
  using Reader = std::function<std::optional<double>()>;
  explicit EnergyCounter(Reader read, std::chrono::microseconds slow = std::chrono::microseconds(200),
                         std::chrono::milliseconds period = std::chrono::milliseconds(50))
      : read_(std::move(read)), slow_(slow), period_(period) {}
  ~EnergyCounter() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    if (poller_.joinable()) poller_.join();
  }
  EnergyCounter(const EnergyCounter&) = delete;
  EnergyCounter& operator=(const EnergyCounter&) = delete;

  std::optional<double> operator()() {
    if (polling_) {
      std::lock_guard lock(mutex_);
      return latest_;
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::optional<double> j = read_ ? read_() : std::nullopt;
    if (j && std::chrono::steady_clock::now() - t0 > slow_) start_polling(j);
    return j;
  }
  bool polling() const { return polling_; }

 private:
  void start_polling(std::optional<double> first) {
    latest_ = first;
    try {
      poller_ = std::thread([this] {
        std::unique_lock lock(mutex_);
        while (!wake_.wait_for(lock, period_, [this] { return stop_; })) {
          lock.unlock();
          const std::optional<double> j = read_();
          lock.lock();
          if (j) latest_ = j;
        }
      });
      polling_ = true;
    } catch (const std::exception&) {  // no thread: keep reading directly
    }
  }

  Reader read_;
  std::chrono::microseconds slow_;
  std::chrono::milliseconds period_;
  bool polling_ = false;  // engine thread only
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::optional<double> latest_;
  std::thread poller_;
};

}  // namespace hearth
