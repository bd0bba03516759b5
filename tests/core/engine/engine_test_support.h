#pragma once
// Collects an Engine's events per request (sinks run on the engine thread) and waits for them.
#include <QTest>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "core/engine/engine.h"

namespace hearth::test {

// True when `s` is well-formed UTF-8 (whole characters only).
// A fresh random seed per run, printed so a failure can be repeated.
inline uint64_t fresh_seed(const char* what) {
  const uint64_t seed = std::random_device{}();
  std::printf("%s: seed %llu\n", what, static_cast<unsigned long long>(seed));
  return seed;
}

inline bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    }
    i += len;
  }
  return true;
}

struct Collected {
  int invalid_utf8_deltas = 0;  // deltas whose text was not whole UTF-8 characters
  bool started = false;
  std::string text;
  std::vector<TokenId> tokens;
  std::vector<TokenLogprob> logprobs;
  int deltas = 0;
  bool finished = false;
  std::string finish_reason, error;
  RequestUsage usage;
  RequestTimings timings;
  std::chrono::steady_clock::time_point finished_at{};
};

class Collector {
 public:
  // The sink of request number `index` (the caller's numbering: events can arrive before submit returns).
  RequestSink sink(int index) {
    return [this, index](const RequestEvent& e) {
      std::lock_guard lock(mutex_);
      Collected& c = results_[index];
      switch (e.kind) {
        case RequestEvent::Kind::kStarted:
          c.started = true;
          break;
        case RequestEvent::Kind::kDelta:
          c.text += e.text;
          if (!valid_utf8(e.text)) ++c.invalid_utf8_deltas;
          c.tokens.insert(c.tokens.end(), e.tokens.begin(), e.tokens.end());
          c.logprobs.insert(c.logprobs.end(), e.logprobs.begin(), e.logprobs.end());
          ++c.deltas;
          break;
        case RequestEvent::Kind::kFinished:
          c.finished = true;
          c.finish_reason = e.finish_reason;
          c.error = e.error;
          c.usage = e.usage;
          c.timings = e.timings;
          c.finished_at = std::chrono::steady_clock::now();
          ++finished_;
          break;
      }
      cv_.notify_all();
    };
  }

  // Waits until `count` requests finished; false on timeout.
  bool wait_finished(int count, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return finished_ >= count; });
  }
  // Waits until request `index` has at least `deltas` deltas (or started, for deltas == 0).
  bool wait_progress(int index, int deltas, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] {
      const auto it = results_.find(index);
      return it != results_.end() && (it->second.finished || (it->second.started && it->second.deltas >= deltas));
    });
  }
  Collected get(int index) {
    std::lock_guard lock(mutex_);
    return results_[index];
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<int, Collected> results_;
  int finished_ = 0;
};

// Loads a model and waits for the outcome; QFAILs (returns false) when loading fails.
inline bool load_and_wait(Engine& engine, const std::string& path) {
  auto done = std::make_shared<std::promise<ModelEvent>>();
  engine.load_model(path, [done](const ModelEvent& e) {
    if (e.kind == ModelEvent::Kind::kLoaded || e.kind == ModelEvent::Kind::kFailed) done->set_value(e);
  });
  const ModelEvent e = done->get_future().get();
  if (e.kind != ModelEvent::Kind::kLoaded) {
    qWarning("model load failed: %s", e.message.c_str());
    return false;
  }
  return true;
}

// The pool is whole: nothing in use, every block free or cached. Waits briefly for the engine
// thread to publish its counters after the last finish.
inline bool pool_whole(const Engine& engine, QString& why) {
  EngineStats st;
  for (int i = 0; i < 200; ++i) {
    st = engine.stats();
    if (st.kv_blocks_used == 0 && st.running == 0 && st.kv_blocks_cached + st.kv_blocks_free == st.kv_blocks_total) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  why = QString("pool not whole: used %1, cached %2, free %3, total %4, running %5")
            .arg(st.kv_blocks_used).arg(st.kv_blocks_cached).arg(st.kv_blocks_free).arg(st.kv_blocks_total).arg(st.running);
  return false;
}

}  // namespace hearth::test
