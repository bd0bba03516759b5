#pragma once
// Measured decode step times, per batch size b (decode slices in the step) and per number of
// extra rows e (draft tokens verified in the step: the step computes b + e rows). e = 0 is a
// plain decode step (on CUDA a replayed decode graph), e > 0 a verify step. The engine times
// every decode-only step (drafting, forward pass, sampling and verification) and records it
// here; SpecController plans from the estimates.
//
// Estimates for cells never measured come from the measured ones. Verify cells (e > 0) are
// their own curve, apart from the plain cell: a plain step may replay a decode graph where a
// verify step does not, so going from e = 0 to e = 1 can cost a fixed amount that says nothing
// about the cost per row. Between measured verify cells: linear interpolation; above the last:
// the slope of the last two, or with only one a prior slope per row (optimistic on purpose, so
// that the next larger shape gets tried; its measurement then replaces the guess).
// The very first sample of a verify cell above 3x what even a linear cost (every extra row as
// dear as a decode row) predicts is a one-off (a new shape's first launch: lazy module loading,
// a library plan, an allocation) and is dropped once, so a warm-up step does not condemn a shape.
#include <cstdint>
#include <vector>

namespace hearth {

class StepCostModel {
 public:
  // Relative cost of one extra row before any verify step is measured, as a fraction of the plain
  // step: small (speculation looks cheap until measured).
  static constexpr double kPriorRowFraction = 0.02;
  static constexpr double kTimeWeight = 0.15;  // moving-average weight of one sample

  // Seconds of a step at batch b with e extra rows; 0 when nothing at batch b is measured yet.
  double estimate(int64_t batch, int64_t extra) const;
  // True once the cell has a sample.
  bool measured(int64_t batch, int64_t extra) const;
  int64_t samples(int64_t batch, int64_t extra) const;
  // Steps at batch b since its plain cell was last measured (0 when never).
  int64_t steps_since_plain(int64_t batch) const;
  // The largest e with a measurement at batch b (0 when none but plain).
  int64_t largest_measured(int64_t batch) const;

  // False when the sample was dropped as a first launch's warm-up.
  bool record(int64_t batch, int64_t extra, double seconds);

 private:
  struct Cell {
    double seconds = 0;
    int64_t n = 0;
    bool dropped_warmup = false;
  };
  struct Batch {
    std::vector<Cell> cells;  // [extra]
    int64_t steps_since_plain = 0;
  };
  const Cell* cell(int64_t batch, int64_t extra) const;

  std::vector<Batch> batches_;  // [batch - 1]
};

}  // namespace hearth
