#include "core/engine/step_cost_model.h"

#include <algorithm>

namespace hearth {

namespace {

// A first verify sample above this multiple of the linear-cost prediction (every extra row as
// dear as a whole decode row per stream) is a warm-up outlier: a first launch (lazy module
// loading, library plans, allocations), not the shape's cost.
constexpr double kWarmupOutlier = 3.0;
// The first samples of a cell keep their minimum (a first launch is often slow), then the cell
// becomes a moving average.
constexpr int64_t kMinOfFirst = 2;

}  // namespace

const StepCostModel::Cell* StepCostModel::cell(int64_t batch, int64_t extra) const {
  if (batch < 1 || extra < 0 || batch > static_cast<int64_t>(batches_.size())) return nullptr;
  const Batch& b = batches_[static_cast<size_t>(batch - 1)];
  if (extra >= static_cast<int64_t>(b.cells.size())) return nullptr;
  const Cell& c = b.cells[static_cast<size_t>(extra)];
  return c.n > 0 ? &c : nullptr;
}

bool StepCostModel::measured(int64_t batch, int64_t extra) const { return cell(batch, extra) != nullptr; }

int64_t StepCostModel::samples(int64_t batch, int64_t extra) const {
  const Cell* c = cell(batch, extra);
  return c ? c->n : 0;
}

int64_t StepCostModel::steps_since_plain(int64_t batch) const {
  if (batch < 1 || batch > static_cast<int64_t>(batches_.size())) return 0;
  return batches_[static_cast<size_t>(batch - 1)].steps_since_plain;
}

int64_t StepCostModel::largest_measured(int64_t batch) const {
  if (batch < 1 || batch > static_cast<int64_t>(batches_.size())) return 0;
  const auto& cells = batches_[static_cast<size_t>(batch - 1)].cells;
  for (auto e = static_cast<int64_t>(cells.size()) - 1; e > 0; --e) {
    if (cells[static_cast<size_t>(e)].n > 0) return e;
  }
  return 0;
}

double StepCostModel::estimate(int64_t batch, int64_t extra) const {
  const Cell* plain = cell(batch, 0);
  if (!plain) return 0;
  if (const Cell* c = cell(batch, extra)) return c->seconds;
  // Verify steps (e > 0) are their own curve: on CUDA a plain step replays a decode graph and a
  // verify step does not, so the jump from e = 0 to e = 1 is a fixed cost, not a per-row one.
  // Only verify cells give the per-row slope.
  const double prior_slope = kPriorRowFraction * plain->seconds;
  std::vector<int64_t> verify;  // measured e > 0, ascending
  const auto& cells = batches_[static_cast<size_t>(batch - 1)].cells;
  for (int64_t e = 1; e < static_cast<int64_t>(cells.size()); ++e) {
    if (cells[static_cast<size_t>(e)].n > 0) verify.push_back(e);
  }
  if (verify.empty()) return plain->seconds + prior_slope * static_cast<double>(extra);
  auto t = [&](int64_t e) { return cells[static_cast<size_t>(e)].seconds; };
  const auto hi = std::upper_bound(verify.begin(), verify.end(), extra);
  if (hi == verify.begin()) {  // below the first verify cell: its cost less the prior slope
    return std::max(plain->seconds, t(*hi) - prior_slope * static_cast<double>(*hi - extra));
  }
  const int64_t lo = *(hi - 1);
  if (hi != verify.end()) {
    const double f = static_cast<double>(extra - lo) / static_cast<double>(*hi - lo);
    return t(lo) + f * (t(*hi) - t(lo));
  }
  double slope = prior_slope;  // above the last verify cell
  if (verify.size() >= 2) {
    const int64_t below = verify[verify.size() - 2];
    slope = std::max(0.0, (t(lo) - t(below)) / static_cast<double>(lo - below));
  }
  return t(lo) + slope * static_cast<double>(extra - lo);
}

bool StepCostModel::record(int64_t batch, int64_t extra, double seconds) {
  if (batch < 1 || extra < 0 || !(seconds > 0)) return false;
  if (batch > static_cast<int64_t>(batches_.size())) batches_.resize(static_cast<size_t>(batch));
  Batch& b = batches_[static_cast<size_t>(batch - 1)];
  if (extra >= static_cast<int64_t>(b.cells.size())) b.cells.resize(static_cast<size_t>(extra + 1));
  Cell& c = b.cells[static_cast<size_t>(extra)];
  if (extra > 0 && c.n == 0 && !c.dropped_warmup) {
    if (const Cell* plain = cell(batch, 0)) {
      const double linear = plain->seconds * static_cast<double>(batch + extra) / static_cast<double>(batch);
      if (seconds > kWarmupOutlier * linear) {
        c.dropped_warmup = true;
        return false;
      }
    }
  }
  b.steps_since_plain = extra == 0 ? 0 : b.steps_since_plain + 1;
  if (c.n == 0) {
    c.seconds = seconds;
  } else if (c.n < kMinOfFirst) {
    c.seconds = std::min(c.seconds, seconds);
  } else {
    c.seconds += kTimeWeight * (seconds - c.seconds);
  }
  ++c.n;
  return true;
}

}  // namespace hearth
