#pragma once
// Counters and histograms the server keeps, rendered as Prometheus text (version 0.0.4) for
// GET /metrics together with the engine's live stats. Thread-safe: handlers on many HTTP threads
// and engine sinks record into one ServerMetrics.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/engine/engine.h"

namespace hearth::server {

// Cumulative-bucket histogram: observe() counts a value into every bucket with bound >= value.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  // "name_bucket{le=...} n" lines, then name_sum and name_count.
  void render(const std::string& name, std::string& out) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative), plus +Inf at the end
  double sum_ = 0;
  uint64_t count_ = 0;
};

class ServerMetrics {
 public:
  ServerMetrics();
  void count_request(const std::string& endpoint, int status);
  void add_tokens(int64_t prompt, int64_t completion);
  void count_finish(const std::string& engine_reason);  // stop, length, context, cancelled, error
  void observe_time_to_first_token(double seconds);
  void observe_inter_token_latency(double seconds);
  std::string render(const EngineStats& engine) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // (endpoint, status) -> count
  std::map<std::string, uint64_t> finishes_;  // engine finish reason -> count
  uint64_t prompt_tokens_ = 0, completion_tokens_ = 0;
  Histogram ttft_, itl_;
};

}  // namespace hearth::server
