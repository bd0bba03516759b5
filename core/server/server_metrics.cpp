#include "core/server/server_metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace hearth::server {

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  const size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::render(const std::string& name, std::string& out) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds_[i], cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, count_, name, sum_, name, count_);
}

ServerMetrics::ServerMetrics()
    : ttft_({0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}),
      itl_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}) {}

void ServerMetrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[{endpoint, status}];
}

void ServerMetrics::add_tokens(int64_t prompt, int64_t completion) {
  std::lock_guard lock(mutex_);
  prompt_tokens_ += static_cast<uint64_t>(std::max<int64_t>(0, prompt));
  completion_tokens_ += static_cast<uint64_t>(std::max<int64_t>(0, completion));
}

void ServerMetrics::count_finish(const std::string& engine_reason) {
  std::lock_guard lock(mutex_);
  ++finishes_[engine_reason];
}

void ServerMetrics::observe_time_to_first_token(double seconds) {
  std::lock_guard lock(mutex_);
  ttft_.observe(seconds);
}

void ServerMetrics::observe_inter_token_latency(double seconds) {
  std::lock_guard lock(mutex_);
  itl_.observe(seconds);
}

std::string ServerMetrics::render(const EngineStats& e) const {
  std::lock_guard lock(mutex_);
  std::string out;
  out += "# HELP hearth_http_requests_total HTTP requests answered, by endpoint and status.\n";
  out += "# TYPE hearth_http_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    out += fmt::format("hearth_http_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, n);
  out += "# HELP hearth_requests_finished_total Engine requests of the API finished, by reason.\n";
  out += "# TYPE hearth_requests_finished_total counter\n";
  for (const auto& [reason, n] : finishes_) out += fmt::format("hearth_requests_finished_total{{reason=\"{}\"}} {}\n", reason, n);
  out += "# HELP hearth_prompt_tokens_total Prompt tokens of finished API requests.\n";
  out += "# TYPE hearth_prompt_tokens_total counter\n";
  out += fmt::format("hearth_prompt_tokens_total {}\n", prompt_tokens_);
  out += "# HELP hearth_generated_tokens_total Tokens generated for API requests.\n";
  out += "# TYPE hearth_generated_tokens_total counter\n";
  out += fmt::format("hearth_generated_tokens_total {}\n", completion_tokens_);
  out += "# HELP hearth_time_to_first_token_seconds Submit to first generated token.\n";
  out += "# TYPE hearth_time_to_first_token_seconds histogram\n";
  ttft_.render("hearth_time_to_first_token_seconds", out);
  out += "# HELP hearth_inter_token_latency_seconds Time between streamed deltas of one request.\n";
  out += "# TYPE hearth_inter_token_latency_seconds histogram\n";
  itl_.render("hearth_inter_token_latency_seconds", out);
  out += "# HELP hearth_queue_length Requests waiting for the engine.\n# TYPE hearth_queue_length gauge\n";
  out += fmt::format("hearth_queue_length {}\n", e.queued);
  out += "# HELP hearth_running_requests Sequences in flight.\n# TYPE hearth_running_requests gauge\n";
  out += fmt::format("hearth_running_requests {}\n", e.running);
  out += "# HELP hearth_kv_blocks KV cache blocks by state.\n# TYPE hearth_kv_blocks gauge\n";
  out += fmt::format("hearth_kv_blocks{{state=\"total\"}} {}\nhearth_kv_blocks{{state=\"used\"}} {}\n", e.kv_blocks_total, e.kv_blocks_used);
  out += fmt::format("hearth_kv_blocks{{state=\"cached\"}} {}\nhearth_kv_blocks{{state=\"free\"}} {}\n", e.kv_blocks_cached, e.kv_blocks_free);
  out += "# HELP hearth_kv_usage_ratio Used KV blocks / total.\n# TYPE hearth_kv_usage_ratio gauge\n";
  out += fmt::format("hearth_kv_usage_ratio {}\n", e.kv_blocks_total > 0 ? static_cast<double>(e.kv_blocks_used) / static_cast<double>(e.kv_blocks_total) : 0.0);
  out += "# HELP hearth_prefix_cache_hit_rate Prompt tokens served from the prefix cache / prompt tokens.\n";
  out += "# TYPE hearth_prefix_cache_hit_rate gauge\n";
  out += fmt::format("hearth_prefix_cache_hit_rate {}\n", e.prefix_hit_rate);
  out += "# HELP hearth_engine_preemptions_total Sequences preempted because the KV pool was full.\n";
  out += "# TYPE hearth_engine_preemptions_total counter\n";
  out += fmt::format("hearth_engine_preemptions_total {}\n", e.preemptions);
  return out;
}

}  // namespace hearth::server
