#include "core/engine/spec_controller.h"

#include <algorithm>
#include <cmath>

#include "core/engine/engine.h"
#include "core/engine/speculation.h"

namespace hearth {

namespace {

constexpr double kStreamWeight = 0.15;  // moving-average weight of one verify step
constexpr double kPriorCostPerDraft = 0.1;  // forced drafters before any step is measured
constexpr double kOptimism = 0.25;          // acceptance bonus of a stream with n verifies: / (n + 1)
constexpr double kPoolWeight = 4.0;         // pseudo-observations of the batch's mean acceptance

void update(double& avg, double value, double weight) { avg += weight * (value - avg); }

}  // namespace

std::optional<SpecMode> parse_spec_mode(std::string_view text) {
  if (text == "off") return SpecMode::kOff;
  if (text == "ngram") return SpecMode::kNgram;
  if (text == "draft") return SpecMode::kDraft;
  if (text == "auto") return SpecMode::kAuto;
  return std::nullopt;
}

std::string_view spec_mode_name(SpecMode mode) {
  switch (mode) {
    case SpecMode::kOff: return "off";
    case SpecMode::kNgram: return "ngram";
    case SpecMode::kDraft: return "draft";
    case SpecMode::kAuto: return "auto";
  }
  return "off";
}

namespace {

// One candidate draft row: the j-th draft of stream `ask` adds `gain` = a^j expected tokens.
struct Gain {
  double gain;
  size_t ask;
};

}  // namespace

double SpecController::loss_budget(double plain_step_s) const {
  return kLossShare * decode_s_ + kLossAllowancePlainSteps * plain_step_s;
}

std::vector<int32_t> SpecController::plan(std::span<const SpecAsk> asks, int64_t batch, int64_t max_extra) {
  accountable_ = false;
  std::vector<int32_t> k(asks.size(), 0);
  if (asks.empty() || batch < 1) return k;
  max_extra = std::max<int64_t>(0, max_extra);
  const double t_plain = costs_.estimate(batch, 0);

  // Streams that asked for a drafter draft at least one token; how many more is chosen like
  // `auto` below (the most expected tokens per estimated second), but with no loss budget and no
  // ramp: the request asked for it. Before plain steps are measured at this batch, a prior.
  std::vector<Gain> forced_gains;
  int64_t base = 0;                                 // extra rows of the forced streams
  double base_tokens = static_cast<double>(batch);  // expected tokens of the step without auto drafts
  for (size_t i = 0; i < asks.size(); ++i) {
    const SpecAsk& a = asks[i];
    if (a.optional || a.max_draft <= 0 || base >= max_extra) continue;
    const double rate = std::clamp(a.state->accept_rate(), 0.0, 1.0);
    if (t_plain <= 0) {
      k[i] = static_cast<int32_t>(std::min<int64_t>(best_draft_length(rate, kPriorCostPerDraft, a.max_draft), max_extra - base));
      base += k[i];
      for (int32_t j = 1; j <= k[i]; ++j) base_tokens += std::pow(rate, j);
      continue;
    }
    k[i] = 1;
    ++base;
    base_tokens += rate;
    double g = rate;
    for (int32_t j = 2; j <= a.max_draft; ++j) {
      g *= rate;
      forced_gains.push_back({g, i});
    }
  }
  if (!forced_gains.empty()) {
    std::stable_sort(forced_gains.begin(), forced_gains.end(), [](const Gain& x, const Gain& y) { return x.gain > y.gain; });
    const auto room = static_cast<size_t>(std::max<int64_t>(0, max_extra - base));
    if (forced_gains.size() > room) forced_gains.resize(room);
    double tokens = base_tokens, best = base_tokens / costs_.estimate(batch, base), best_tokens = base_tokens;
    int64_t more = 0;
    for (size_t e = 1; e <= forced_gains.size(); ++e) {
      tokens += forced_gains[e - 1].gain;
      const double rate = tokens / costs_.estimate(batch, base + static_cast<int64_t>(e));
      if (rate > best) {
        best = rate;
        more = static_cast<int64_t>(e);
        best_tokens = tokens;
      }
    }
    for (int64_t e = 0; e < more; ++e) ++k[forced_gains[static_cast<size_t>(e)].ask];
    base += more;
    base_tokens = best_tokens;
  }

  // `auto` streams: the gains of every possible draft row, largest first.
  // Each stream's acceptance is pooled with the batch's mean (a shrinkage estimate: kPoolWeight
  // pseudo-observations of the mean against its own verify steps): a few unlucky verify steps
  // must not starve one stream of drafts while the others draft long (in a batch the last
  // stream to finish sets the pace), while a stream whose acceptance really differs gets its
  // own draft length after a few steps.
  double pooled_sum = 0, pooled_n = 0;
  for (const SpecAsk& a : asks) {
    if (!a.optional || a.max_draft <= 0 || a.state->verifies == 0) continue;
    const auto n = static_cast<double>(a.state->verifies);
    pooled_sum += n * a.state->accept_rate();
    pooled_n += n;
  }
  const double pooled = pooled_n > 0 ? pooled_sum / pooled_n : -1;
  std::vector<Gain> gains;
  for (size_t i = 0; i < asks.size(); ++i) {
    const SpecAsk& a = asks[i];
    if (!a.optional || a.max_draft <= 0) continue;
    SpecStreamState& st = *a.state;
    if (st.steps_without_drafts >= kStaleSteps) {
      // Not measured for long: a poor estimate goes halfway back up to the prior (so the stream
      // is tried again where the batch's costs would let it pay); a good one stays.
      if (st.accept_rate() < SpecStreamState::kPriorAcceptance) {
        st.accepted_avg = 0.5 * (st.accepted_avg + SpecStreamState::kPriorAcceptance);
        st.trials_avg = 0.5 * (st.trials_avg + 1.0);
        st.verifies = 0;  // the next observation weighs 2/3 again
      }
      st.steps_without_drafts = 0;
    }
    // Optimism for streams measured little (an upper-confidence estimate): a stream never
    // measured is tried where a good acceptance would pay; the loss budget bounds what that costs.
    double own = st.accept_rate();
    if (pooled >= 0) {
      const auto n = static_cast<double>(st.verifies);
      own = (n * own + kPoolWeight * pooled) / (n + kPoolWeight);
    }
    const double rate = std::clamp(own + kOptimism / static_cast<double>(st.verifies + 1), 0.0, 1.0);
    double g = 1;
    for (int32_t j = 1; j <= a.max_draft; ++j) {
      g *= rate;
      if (g < 1e-3) break;
      gains.push_back({g, i});
    }
  }
  std::stable_sort(gains.begin(), gains.end(), [](const Gain& x, const Gain& y) { return x.gain > y.gain; });
  const auto room = static_cast<size_t>(std::max<int64_t>(0, max_extra - base));
  if (gains.size() > room) gains.resize(room);

  int64_t chosen = 0;  // auto rows this step
  // Plain timings first (nothing to compare with before), and again now and then.
  const bool refresh_plain = base == 0 && costs_.steps_since_plain(batch) >= kPlainRefreshSteps;
  const double budget = loss_budget(t_plain);
  // Plain steps measured at this batch size (the loss ledger compares with a measured plain cost,
  // not a guess): kMinPlainSamples at the first batch size (the cell keeps the lowest of its first
  // four samples), one where streams finished or joined (capped by the larger batches' cost), none
  // where two other batch sizes pin it (as streams finish one by one at the end of a batch).
  const bool plain_known =
      costs_.samples(batch, 0) >= (costs_.plain_measured_elsewhere(batch) ? 1 : kMinPlainSamples) ||
      (costs_.samples(batch, 0) == 0 && costs_.plain_from_two(batch));
  if (plain_known && !gains.empty() && !refresh_plain && lost_s_ <= budget) {
    // The best shape by the estimates. One beyond the ramp below is not tried at once: the
    // ramp's end is tried instead, a stepping stone whose measurement corrects the estimates of
    // the larger ones. A shape is tried only when losing its whole step (every
    // draft rejected, at its estimated cost) still fits the budget; otherwise the best shape
    // that fits. So the time lost never exceeds the budget by more than an estimate's error.
    const auto last = static_cast<int64_t>(gains.size());
    // The rows tried grow with each measured shape: first one draft row (it costs at most about a
    // plain step, even where verify rows are dear), then up to kFirstJump more (a batch-1 stream
    // reaches its paying length in 2 verify steps), then doubling (a cost cliff beyond the
    // measured shapes, such as a kernel change at some row count, is met with a bounded loss).
    // Shapes measured at another batch size count (their cost is transferred, see StepCostModel).
    const int64_t largest = costs_.largest_measured_any();
    const int64_t ramp = std::max<int64_t>(base + 1, largest + std::max<int64_t>(largest > 0 ? kFirstJump : 0, largest)) - base;
    // Losing a step: its estimated cost against plain decode, every draft rejected.
    // The cost of a shape never measured is taken pessimistically here (StepCostModel::estimate).
    const double ledger_plain = costs_.ledger_plain_seconds(batch);
    auto fits = [&](int64_t e) { return lost_s_ + costs_.estimate(batch, base + e, true) - ledger_plain <= budget; };
    double tokens = base_tokens;
    const double plain_rate = base_tokens / costs_.estimate(batch, base);
    double best = plain_rate, best_fitting = plain_rate;
    int64_t target = 0, fallback = 0;
    for (int64_t e = 1; e <= last; ++e) {
      tokens += gains[static_cast<size_t>(e - 1)].gain;
      const double rate = tokens / costs_.estimate(batch, base + e);
      if (rate > best) {
        best = rate;
        target = e;
      }
      if (e <= ramp && rate > best_fitting && fits(e)) {
        best_fitting = rate;
        fallback = e;
      }
    }
    target = std::min(target, std::max<int64_t>(0, ramp));
    chosen = target > 0 && fits(target) ? target : fallback;
  }
  accountable_ = base == 0 && chosen > 0;
  for (int64_t e = 0; e < chosen; ++e) ++k[gains[static_cast<size_t>(e)].ask];
  for (size_t i = 0; i < asks.size(); ++i) {
    if (!asks[i].optional) continue;
    asks[i].state->steps_without_drafts = k[i] > 0 ? 0 : asks[i].state->steps_without_drafts + 1;
  }
  return k;
}

void SpecController::record_verify(SpecStreamState& s, int64_t drafted, int64_t accepted) {
  if (drafted <= 0) return;
  const double trials = static_cast<double>(accepted + (accepted < drafted ? 1 : 0));
  // The first observations weigh more (2/3, 2/5, 2/7, ...: the prior counts as half an
  // observation): the prior must not keep a stream speculating for many steps after it showed
  // that its acceptance is poor.
  const double w = std::max(kStreamWeight, 1.0 / (static_cast<double>(s.verifies) + 1.5));
  update(s.accepted_avg, static_cast<double>(accepted), w);
  update(s.trials_avg, trials, w);
  ++s.verifies;
}

void SpecController::record_step(int64_t batch, int64_t extra, int64_t emitted, double seconds) {
  if (batch < 1 || !(seconds > 0)) return;
  decode_s_ += seconds;
  const double t_plain = costs_.ledger_plain_seconds(batch);
  const bool kept = costs_.record(batch, extra, seconds);
  // A first launch's warm-up (dropped by the cost model) is a one-off that plain decode paid at
  // its own first step too: it is not charged.
  if (kept && accountable_ && extra > 0 && t_plain > 0) {
    // Time lost (or, negative, won) against plain decode emitting the same tokens. The credit
    // won is capped (a cushion of kCreditPlainSteps plain steps, so one unlucky verify step does
    // not stop a paying regime, and a good past cannot pay for a long bad streak); capping only
    // ever raises lost_s_ above the true net loss, so the bound holds.
    lost_s_ += seconds - t_plain * static_cast<double>(emitted) / static_cast<double>(batch);
    lost_s_ = std::max(lost_s_, -loss_budget(t_plain) - kCreditPlainSteps * t_plain);
  }
  accountable_ = false;
}

}  // namespace hearth
