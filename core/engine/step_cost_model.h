#pragma once
// Measured decode step times, per batch size b (decode slices in the step) and per number of
// extra rows e (draft tokens verified in the step: the step computes b + e rows). e = 0 is a
// plain decode step (on CUDA a replayed decode graph), e > 0 a verify step. The engine times
// every decode-only step (drafting, forward pass, sampling and verification) and records it
// here; SpecController plans from the estimates.
//
// Estimates for cells never measured come from the measured ones:
//   - plain (e = 0) at a batch size never measured: interpolated between measured ones, or below
//     them on the line through the two smallest (clamped), else in proportion to the streams (a
//     low guess, so a verify step looks dear); a measured smaller batch is capped by a larger one;
//   - verify cells at a batch size with none measured: its plain step plus the extra cost of e
//     rows measured at the nearest batch size that has verify cells (when streams finish, the
//     smaller batch needs no exploring again);
//   - verify cells are their own curve, apart from the plain cell (a plain step may replay a
//     decode graph where a verify step does not, a fixed cost that says nothing about the cost
//     per row). Between measured verify cells: linear interpolation; below the first: on the line
//     from the plain cell to it; above the last: the slope of the last two, or with only one a
//     prior slope per row (optimistic on purpose, so that the next larger shape gets tried; its
//     measurement then replaces the guess). The pessimistic estimate (the loss budget's) takes a
//     single verify cell's whole extra cost as per-row cost instead.
// The very first sample of a verify cell above 3x what even a linear cost (every extra row as
// dear as a decode row) predicts is a one-off (a new shape's first launch: lazy module loading,
// a library plan, an allocation) and is dropped once, so a warm-up step does not condemn a shape.
// A first sample above kSuspect times the estimate made before it is kept but suspect: the
// planner's (optimistic) estimate ignores it until a second sample replaces it, so a shape whose
// first step paid a graph capture is tried again (forced drafters at once, `auto` when its loss
// budget allows: the pessimistic estimate keeps the sample).
#include <cstdint>
#include <vector>

namespace hearth {

class StepCostModel {
 public:
  // Relative cost of one extra row before any verify step is measured, as a fraction of the plain
  // step: small (speculation looks cheap until measured).
  static constexpr double kPriorRowFraction = 0.02;
  static constexpr double kTimeWeight = 0.15;  // moving-average weight of one sample
  static constexpr double kSuspect = 1.5;      // a first sample this far above its estimate is suspect

  // Seconds of a step at batch b with e extra rows; 0 when no plain step is measured at all.
  // A batch size whose plain step was never measured takes it from the measured ones (see
  // plain_seconds()): when streams finish, the smaller batch needs no exploring again.
  // `pessimistic`: above a single measured verify cell, its whole extra cost over plain is taken
  // as per-row cost (the loss budget's view), else a small prior slope (the planner's view).
  double estimate(int64_t batch, int64_t extra, bool pessimistic = false) const;
  // A plain step of b streams: measured, else from the nearest measured batch sizes; 0: none.
  double plain_seconds(int64_t batch) const;
  // The plain step the loss ledger judges verify steps against: the lower of plain_seconds() and
  // the long average of the measured plain cell (every sample after its first, a plain mean of up
  // to kLedgerSamples, then a moving average of that weight). The planner's moving average follows
  // the costs quickly, but one noisy sample moves it by kTimeWeight of its error: a plain cost
  // estimated high would hide real losses from the ledger, so the ledger takes the steadier value
  // when it is lower.
  double ledger_plain_seconds(int64_t batch) const;
  static constexpr int64_t kLedgerSamples = 32;
  // A plain step measured at some other batch size.
  bool plain_measured_elsewhere(int64_t batch) const;
  // plain_seconds(batch) of a batch size never measured comes from two measured ones (between
  // them, or below two: the line through them), not from one alone.
  bool plain_from_two(int64_t batch) const;
  // True once the cell has a sample.
  bool measured(int64_t batch, int64_t extra) const;
  int64_t samples(int64_t batch, int64_t extra) const;
  // Steps at batch b since its plain cell was last measured (0 when never).
  int64_t steps_since_plain(int64_t batch) const;
  // The largest e with a measurement at batch b (0 when none but plain).
  int64_t largest_measured(int64_t batch) const;
  // The largest e measured at any batch size.
  int64_t largest_measured_any() const;

  // False when the sample was dropped as a first launch's warm-up.
  bool record(int64_t batch, int64_t extra, double seconds);

 private:
  struct Cell {
    double seconds = 0;
    int64_t n = 0;
    bool dropped_warmup = false;
    // The only sample so far was far above the estimate made before it (likely a first launch:
    // a CUDA graph capture of the new shape): the planner's estimate ignores it until a second
    // sample replaces it; the pessimistic estimate (the loss budget's) keeps it.
    bool suspect = false;
    double mean = 0;       // plain cells: the long average of the samples after the first
    int64_t mean_n = 0;
  };
  struct Batch {
    std::vector<Cell> cells;  // [extra]
    int64_t steps_since_plain = 0;
  };
  const Cell* cell(int64_t batch, int64_t extra) const;
  // From this batch size's own cells (its plain cell must be measured).
  double estimate_within(int64_t batch, int64_t extra, bool pessimistic) const;
  // The batch size closest to `batch` (not itself) with plain and verify cells measured; 0: none.
  int64_t nearest_verify_batch(int64_t batch) const;

  std::vector<Batch> batches_;  // [batch - 1]
};

}  // namespace hearth
