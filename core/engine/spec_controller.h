#pragma once
// When to speculate and how far, from measurements taken while the engine runs.
//
// Per stream: the per-token acceptance rate (a geometric-run estimate: accepted / (accepted +
// rejections), both as moving averages) and the tokens one verify step yields (1 + accepted).
// Per batch size b (decode slices in a step): the step time of plain decode steps and of verify
// steps (drafting included), and the drafted tokens per stream of those verify steps.
//
// Draft length: best_draft_length() with that acceptance rate and the measured cost of one more
// verified token relative to a plain step at b (a prior of 0.1 until both are measured).
// `auto`: a stream speculates at batch size b while tokens_per_verify * T_plain[b] > T_verify[b]
// (speculation emits more tokens per unit of time than plain decode); a stream that does not pay
// is re-probed every kProbeInterval of its steps, and every batch size gets a plain step now and
// then, so both sides of the comparison stay current.
#include <cstdint>
#include <vector>

namespace hearth {

enum class SpecMode;

struct SpecStreamState {
  double accepted_avg = 0.7;     // moving averages (priors: 70% acceptance)
  double trials_avg = 1.0;
  double tokens_per_verify = 0;  // moving average of 1 + accepted; 0: not measured yet
  int64_t steps_since_probe = 0; // plain steps taken by `auto` since it last tried speculating
  double accept_rate() const { return trials_avg > 0 ? accepted_avg / trials_avg : 0; }
};

class SpecController {
 public:
  static constexpr int64_t kProbeInterval = 32;       // plain steps of a stream between probes
  static constexpr int64_t kPlainRefreshInterval = 256;  // verify steps at a batch size between plain ones
  static constexpr int64_t kMinSamples = 3;           // step timings before they are trusted

  explicit SpecController(int64_t max_batch);

  // Draft tokens for one stream this step (0: decode plainly). `batch`: decode slices expected.
  int32_t draft_length(SpecStreamState& s, SpecMode mode, int32_t max_draft, int64_t batch);
  // After verifying `drafted` tokens of which the first `accepted` were accepted.
  static void record_verify(SpecStreamState& s, int64_t drafted, int64_t accepted);
  // A finished decode-only step: `drafted` tokens over `batch` streams took `seconds`.
  void record_step(int64_t batch, int64_t drafted, double seconds);

  // Measured (moving average) step times at a batch size; 0 when not measured yet.
  double plain_step_seconds(int64_t batch) const;
  double verify_step_seconds(int64_t batch) const;

 private:
  struct BatchTiming {
    double plain_s = 0, verify_s = 0, drafted_per_stream = 0;
    int64_t plain_n = 0, verify_n = 0, verifies_since_plain = 0;
  };
  BatchTiming& at(int64_t batch);
  const BatchTiming* find(int64_t batch) const;
  double cost_per_draft(const BatchTiming& t) const;

  std::vector<BatchTiming> by_batch_;  // [batch - 1]
};

}  // namespace hearth
