#pragma once
// When to speculate and how far, from measurements taken while the engine runs.
//
// Per stream: the per-token acceptance rate (a geometric-run estimate: accepted / (accepted +
// rejections), both as moving averages). Per batch: StepCostModel, the measured step time of
// every (batch size b, extra rows e) shape the engine ran.
//
// Each step plan() gives every speculating stream a draft length. Streams that asked for a
// drafter (ngram, draft) always draft; their length is best_draft_length() for their acceptance
// and the measured cost of one more row. `auto` streams only draft where it pays, decided for the
// whole batch at once: the j-th draft of a stream with acceptance a adds a^j expected tokens, so
// for e extra rows the best assignment is the e largest of those gains (greedy, exact because
// each stream's gains decrease), and the planner takes the e that maximises expected tokens per
// second = (b + gains(e)) / T(b, e) - e = 0 is plain decode. So speculation turns off at a batch
// size where its rows cost more than they yield, and for a stream whose acceptance is low, and
// the draft length follows acceptance.
//
// The loss is bounded: every step where `auto` drafted is compared with plain decode emitting
// the same tokens (the measured plain step time, its steadier long average where that is lower:
// StepCostModel::ledger_plain_seconds), and a step with drafts is planned only if
// losing all of it (every draft rejected, at the shape's pessimistic cost estimate: above a
// single measured verify shape its whole extra cost counts per row) keeps the time lost so far
// within kLossShare of all decode time plus half a plain step. Time won is kept as a cushion of
// up to kCreditPlainSteps plain steps. So over any run `auto` is at most about 0.5% + half a
// step slower than plain decode (plus the error of a cost estimate), whatever acceptance does.
// Exploring is fast where verify rows are cheap (the CUDA matvec reads the weights once for up
// to 64 rows): `auto` drafts after kMinPlainSamples plain steps at the first batch size (one at
// later ones: costs measured at one batch size carry over, see StepCostModel); the rows tried
// grow 1, then up to kFirstJump more, then doubling (a batch-1 stream reaches 8 drafts at its
// 2nd verify step; a cost cliff beyond the measured shapes costs a bounded loss). Streams
// measured little get an optimistic acceptance (kOptimism / (verifies + 1) more), so they are
// tried, and every stream's acceptance is pooled a little with the batch's mean, so a few
// unlucky steps do not starve one stream while the others draft long (the last stream of a
// batch sets its pace); one whose acceptance has not been measured for kStaleSteps of its steps
// drifts halfway back up to the prior (when below it), so it is re-tried if the batch's costs
// would let it pay; a plain step every kPlainRefreshSteps keeps the baseline current.
#include <cstdint>
#include <span>
#include <vector>

#include "core/engine/step_cost_model.h"

namespace hearth {

enum class SpecMode;

struct SpecStreamState {
  static constexpr double kPriorAcceptance = 0.7;
  double accepted_avg = kPriorAcceptance;  // moving averages
  double trials_avg = 1.0;
  int64_t verifies = 0;                    // verify steps observed
  int64_t steps_without_drafts = 0;        // `auto`: decode steps since it last drafted
  double accept_rate() const { return trials_avg > 0 ? accepted_avg / trials_avg : 0; }
};

// One decoding stream that may speculate this step.
struct SpecAsk {
  SpecStreamState* state = nullptr;
  bool optional = true;   // `auto`: only where it pays; false: the request asked for a drafter
  int32_t max_draft = 0;  // the request's limit, capped by the context and max_tokens
};

class SpecController {
 public:
  static constexpr int64_t kPlainRefreshSteps = 64;  // verify steps at a batch size between plain ones
  static constexpr int64_t kStaleSteps = 64;         // see above
  static constexpr int64_t kMinPlainSamples = 4;     // plain steps at a batch size before `auto` drafts there
  static constexpr int64_t kFirstJump = 8;           // draft rows added after the first verify step
  static constexpr double kLossShare = 0.005;        // of decode time, lost against plain at most
  static constexpr double kLossAllowancePlainSteps = 0.5;
  static constexpr double kCreditPlainSteps = 8;     // time won kept as a cushion, at most

  // Draft lengths, one per ask. `batch`: decoding slices this step (speculating or not);
  // `max_extra`: draft rows the step has room for (token budget).
  std::vector<int32_t> plan(std::span<const SpecAsk> asks, int64_t batch, int64_t max_extra);
  // After verifying `drafted` tokens of which the first `accepted` were accepted.
  static void record_verify(SpecStreamState& s, int64_t drafted, int64_t accepted);
  // A finished decode-only step: `batch` slices with `extra` draft rows emitted `emitted` tokens
  // in `seconds`.
  void record_step(int64_t batch, int64_t extra, int64_t emitted, double seconds);

  const StepCostModel& costs() const { return costs_; }
  // Net time `auto` lost against plain decode (negative: won, down to -kLossShare of decode time).
  double lost_seconds() const { return lost_s_; }
  double decode_seconds() const { return decode_s_; }

 private:
  double loss_budget(double plain_step_s) const;

  StepCostModel costs_;
  bool accountable_ = false;  // the last plan added `auto` rows (and no forced ones)
  double lost_s_ = 0, decode_s_ = 0;
};

}  // namespace hearth
