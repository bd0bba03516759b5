#include "core/engine/step_cost_model.h"

#include <algorithm>
#include <cstdlib>

namespace hearth {

namespace {

// A first verify sample above this multiple of the linear-cost prediction (every extra row as
// dear as a whole decode row per stream) is a warm-up outlier: a first launch (lazy module
// loading, library plans, allocations), not the shape's cost.
constexpr double kWarmupOutlier = 3.0;
// The first samples of a cell keep their minimum (a first launch is often slow), then the cell
// becomes a moving average. A plain cell keeps the minimum of more: every verify step's gain or
// loss is judged against it, so a plain cost measured too high (two samples that both came out
// slow) would hide a real loss for as long as no plain step refreshes it; the minimum of four
// errs low, which only makes `auto` more careful.
constexpr int64_t kMinOfFirst = 2;
constexpr int64_t kMinOfFirstPlain = 4;

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

double StepCostModel::ledger_plain_seconds(int64_t batch) const {
  const double plain = plain_seconds(batch);
  const Cell* c = cell(batch, 0);
  if (!c || c->mean_n < 2) return plain;
  return std::min(plain, c->mean);
}

bool StepCostModel::plain_measured_elsewhere(int64_t batch) const {
  for (int64_t b = 1; b <= static_cast<int64_t>(batches_.size()); ++b) {
    if (b != batch && cell(b, 0)) return true;
  }
  return false;
}

double StepCostModel::plain_seconds(int64_t batch) const {
  if (const Cell* c = cell(batch, 0)) {
    // A plain step of fewer streams costs no more than one of more streams: a single noisy
    // sample at a new (smaller) batch size is capped by the larger batches' cost.
    double t = c->seconds;
    for (int64_t b = batch + 1; b <= static_cast<int64_t>(batches_.size()); ++b) {
      if (const Cell* larger = cell(b, 0)) t = std::min(t, larger->seconds);
    }
    return t;
  }
  // Never measured at this batch size (streams finished or joined): from the nearest measured
  // batch sizes - interpolated between two, else scaled down in proportion to the streams when
  // only larger ones were measured, else the largest smaller one's cost. Both guesses are low for
  // costs between flat and linear in the streams, so a verify step looks dear, not cheap.
  int64_t lo = 0, hi = 0;
  for (int64_t b = 1; b <= static_cast<int64_t>(batches_.size()); ++b) {
    if (!cell(b, 0)) continue;
    if (b < batch) lo = b;
    if (b > batch && hi == 0) hi = b;
  }
  if (lo > 0 && hi > 0) {
    const double f = static_cast<double>(batch - lo) / static_cast<double>(hi - lo);
    return plain_seconds(lo) + f * (plain_seconds(hi) - plain_seconds(lo));
  }
  if (hi > 0) {
    const double proportional = plain_seconds(hi) * static_cast<double>(batch) / static_cast<double>(hi);
    int64_t hi2 = 0;  // the next measured batch size above hi
    for (int64_t b = hi + 1; b <= static_cast<int64_t>(batches_.size()) && hi2 == 0; ++b) hi2 = cell(b, 0) ? b : 0;
    if (hi2 == 0) return proportional;
    // Two measured: the line through them, between the proportional guess and hi's cost.
    const double slope = (plain_seconds(hi2) - plain_seconds(hi)) / static_cast<double>(hi2 - hi);
    const double line = plain_seconds(hi) - slope * static_cast<double>(hi - batch);
    return std::clamp(line, proportional, plain_seconds(hi));
  }
  if (lo > 0) return plain_seconds(lo);
  return 0;
}

bool StepCostModel::plain_from_two(int64_t batch) const {
  int64_t below = 0, above = 0;
  for (int64_t b = 1; b <= static_cast<int64_t>(batches_.size()); ++b) {
    if (b == batch || !cell(b, 0)) continue;
    (b < batch ? below : above) += 1;
  }
  return (below > 0 && above > 0) || above >= 2;
}

int64_t StepCostModel::largest_measured_any() const {
  int64_t e = 0;
  for (int64_t b = 1; b <= static_cast<int64_t>(batches_.size()); ++b) e = std::max(e, largest_measured(b));
  return e;
}

double StepCostModel::estimate(int64_t batch, int64_t extra, bool pessimistic) const {
  const double plain = plain_seconds(batch);
  if (plain <= 0) return 0;
  if (extra <= 0) return plain;
  if (const Cell* c = cell(batch, extra); c && (pessimistic || !c->suspect)) return c->seconds;
  if (largest_measured(batch) > 0) return estimate_within(batch, extra, pessimistic);
  // No verify step at this batch size yet: the extra cost of e draft rows over a plain step is
  // taken from the nearest batch size where verify steps were measured (the rows' cost depends
  // little on how many streams share the step: the same for flat, linear and fixed-overhead
  // costs). So when streams finish and the batch shrinks, `auto` does not explore again.
  const int64_t near = nearest_verify_batch(batch);
  if (near > 0) return plain + std::max(0.0, estimate_within(near, extra, pessimistic) - plain_seconds(near));
  return estimate_within(batch, extra, pessimistic);
}

int64_t StepCostModel::nearest_verify_batch(int64_t batch) const {
  int64_t best = 0;
  for (int64_t b = 1; b <= static_cast<int64_t>(batches_.size()); ++b) {
    if (b == batch || plain_seconds(b) <= 0 || largest_measured(b) == 0) continue;
    if (best == 0 || std::abs(b - batch) < std::abs(best - batch)) best = b;
  }
  return best;
}

double StepCostModel::estimate_within(int64_t batch, int64_t extra, bool pessimistic) const {
  const double plain = plain_seconds(batch);
  // Verify steps (e > 0) are their own curve: on CUDA a plain step may replay a decode graph and
  // a verify step not, so the jump from e = 0 to e = 1 can be a fixed cost, not a per-row one.
  // Only verify cells give the per-row slope.
  const double prior_slope = kPriorRowFraction * plain;
  std::vector<int64_t> verify;  // measured e > 0, ascending
  if (batch < 1 || batch > static_cast<int64_t>(batches_.size())) return plain + prior_slope * static_cast<double>(extra);
  const auto& cells = batches_[static_cast<size_t>(batch - 1)].cells;
  for (int64_t e = 1; e < static_cast<int64_t>(cells.size()); ++e) {
    const Cell& c = cells[static_cast<size_t>(e)];
    if (c.n > 0 && (pessimistic || !c.suspect)) verify.push_back(e);
  }
  if (verify.empty()) return plain + prior_slope * static_cast<double>(extra);
  auto t = [&](int64_t e) { return cells[static_cast<size_t>(e)].seconds; };
  const auto hi = std::upper_bound(verify.begin(), verify.end(), extra);
  if (hi == verify.begin()) {
    // Below the first verify cell: on the line from the plain step to it (exact where the extra
    // cost is per row, as a draft model's passes are; the planner then shortens a first long
    // draft), or, pessimistic, its cost less the prior slope (a fixed verify overhead).
    const double f = static_cast<double>(extra) / static_cast<double>(*hi);
    const double line = plain + f * (t(*hi) - plain);
    return pessimistic ? std::max(line, t(*hi) - prior_slope * static_cast<double>(*hi - extra)) : std::max(plain, line);
  }
  const int64_t lo = *(hi - 1);
  if (lo == extra) return t(lo);
  if (hi != verify.end()) {
    const double f = static_cast<double>(extra - lo) / static_cast<double>(*hi - lo);
    return t(lo) + f * (t(*hi) - t(lo));
  }
  // Above the last verify cell: the slope of the last two, or with only one, the prior slope
  // (optimistic: the next larger shape looks worth trying) or, pessimistic, its whole extra cost
  // over the plain step taken as a per-row cost (a fixed verify overhead then looks per-row:
  // what the loss budget assumes before it risks a shape never measured).
  double slope = pessimistic ? std::max(prior_slope, (t(lo) - plain) / static_cast<double>(lo)) : prior_slope;
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
    if (const double plain = plain_seconds(batch); plain > 0) {
      const double linear = plain * static_cast<double>(batch + extra) / static_cast<double>(batch);
      if (seconds > kWarmupOutlier * linear) {
        c.dropped_warmup = true;
        return false;
      }
    }
  }
  if (extra > 0 && c.n == 0) {
    const double expected = estimate(batch, extra);  // before this sample (the cell is still empty)
    c.suspect = expected > 0 && seconds > kSuspect * expected;
  }
  b.steps_since_plain = extra == 0 ? 0 : b.steps_since_plain + 1;
  if (extra == 0 && c.n > 0) {  // the first sample (a first launch's, maybe) is left out
    ++c.mean_n;
    c.mean += (seconds - c.mean) / static_cast<double>(std::min(c.mean_n, kLedgerSamples));
  }
  if (c.n == 0 || (c.n == 1 && c.suspect)) {
    c.seconds = seconds;  // a suspect first sample is replaced, not kept as a minimum
    c.suspect = c.n == 0 && c.suspect;
  } else if (c.n < (extra == 0 ? kMinOfFirstPlain : kMinOfFirst)) {
    c.seconds = std::min(c.seconds, seconds);
  } else {
    c.seconds += kTimeWeight * (seconds - c.seconds);
  }
  ++c.n;
  return true;
}

}  // namespace hearth
