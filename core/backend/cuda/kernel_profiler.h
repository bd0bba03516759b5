#pragma once
// Per-operation GPU time of the CUDA backend's passes (HEARTH_CUDA_PROFILE=1 in the environment,
// or CudaBackendOptions::profile). A profiled pass runs with plain launches (no graph): the
// stream is first held by a spinning kernel while the host enqueues the whole pass, with an
// event after every operation, so the GPU then runs the operations back to back and the time
// between two events is the GPU time of the operation between them (launch gaps excluded).
// Times are summed per label over all layers of a pass, and averaged over passes. Header-only:
// included by cuda_backend.cpp alone.
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <algorithm>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/backend/cuda/cuda_check.h"
#include "kernels/cuda/stream_hold.h"

namespace hearth::cuda_detail {

class KernelProfiler {
 public:
  explicit KernelProfiler(cudaStream_t stream) : stream_(stream) {}
  ~KernelProfiler();
  KernelProfiler(const KernelProfiler&) = delete;
  KernelProfiler& operator=(const KernelProfiler&) = delete;

  // Holds the stream and records the start event; the pass's operations follow.
  void begin_pass(std::string_view kind);
  // Records an event after the operation just enqueued, which is charged to `label`.
  void mark(std::string_view label);
  // Waits for the pass and adds its times; `host_seconds` is the caller's wall time of the pass.
  void end_pass(double host_seconds);

  bool active() const { return in_pass_; }
  // One table per pass kind ("decode 1", "prefill 512", ...): label, launches per pass,
  // microseconds per pass, share of the pass; then GPU time vs host wall time per pass.
  std::string report() const;

 private:
  struct Stat {
    double microseconds = 0;
    int64_t count = 0;
    int64_t order = 0;  // first appearance in a pass, for the table's order
  };
  struct Kind {
    std::map<std::string, Stat> stats;
    int64_t passes = 0;
    double gpu_microseconds = 0;
    double host_microseconds = 0;
  };
  cudaEvent_t event(size_t i);

  cudaStream_t stream_;
  std::vector<cudaEvent_t> events_;
  std::vector<std::string> labels_;  // labels_[i]: the operation between events i and i + 1
  std::map<std::string, Kind> kinds_;
  std::string kind_;
  bool in_pass_ = false;
};

namespace profiler_detail {
// Long enough for the host to enqueue a whole pass (~20 launches and events per layer, a few us
// each).
constexpr uint64_t kHoldNanoseconds = 5'000'000;
}  // namespace profiler_detail

inline KernelProfiler::~KernelProfiler() {
  for (cudaEvent_t e : events_) (void)cudaEventDestroy(e);
}

inline cudaEvent_t KernelProfiler::event(size_t i) {
  while (events_.size() <= i) {
    cudaEvent_t e = nullptr;
    check(cudaEventCreate(&e), "profiler event");
    events_.push_back(e);
  }
  return events_[i];
}

inline void KernelProfiler::begin_pass(std::string_view kind) {
  kind_ = std::string(kind);
  labels_.clear();
  check(kernels::cuda::hold_stream(stream_, profiler_detail::kHoldNanoseconds), "profiler hold");
  check(cudaEventRecord(event(0), stream_), "profiler event");
  in_pass_ = true;
}

inline void KernelProfiler::mark(std::string_view label) {
  if (!in_pass_) return;
  labels_.emplace_back(label);
  check(cudaEventRecord(event(labels_.size()), stream_), "profiler event");
}

inline void KernelProfiler::end_pass(double host_seconds) {
  if (!in_pass_) return;
  in_pass_ = false;
  check(cudaEventSynchronize(event(labels_.size())), "profiler sync");
  Kind& k = kinds_[kind_];
  ++k.passes;
  k.host_microseconds += host_seconds * 1e6;
  for (size_t i = 0; i < labels_.size(); ++i) {
    float ms = 0;
    check(cudaEventElapsedTime(&ms, events_[i], events_[i + 1]), "profiler elapsed");
    Stat& s = k.stats[labels_[i]];
    if (s.count == 0) s.order = static_cast<int64_t>(k.stats.size());
    s.microseconds += 1000.0 * ms;
    ++s.count;
    k.gpu_microseconds += 1000.0 * ms;
  }
}

inline std::string KernelProfiler::report() const {
  std::string out;
  for (const auto& [name, k] : kinds_) {
    if (k.passes == 0) continue;
    const double n = static_cast<double>(k.passes);
    out += fmt::format("CUDA profile, {} ({} passes): GPU {:.1f} us per pass, host wall {:.1f} us per pass "
                       "(the host time includes the profiler's {:.0f} us hold)\n",
                       name, k.passes, k.gpu_microseconds / n, k.host_microseconds / n, profiler_detail::kHoldNanoseconds / 1e3);
    std::vector<std::pair<std::string, Stat>> rows(k.stats.begin(), k.stats.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.order < b.second.order; });
    out += fmt::format("  {:<18} {:>9} {:>12} {:>10} {:>7}\n", "operation", "per pass", "us per pass", "us each",
                       "share");
    for (const auto& [label, s] : rows) {
      out += fmt::format("  {:<18} {:>9.1f} {:>12.1f} {:>10.2f} {:>6.1f}%\n", label, s.count / n, s.microseconds / n,
                         s.microseconds / static_cast<double>(s.count), 100.0 * s.microseconds / k.gpu_microseconds);
    }
  }
  return out;
}

}  // namespace hearth::cuda_detail
