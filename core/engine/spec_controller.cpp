#include "core/engine/spec_controller.h"

#include <algorithm>

#include "core/engine/engine.h"
#include "core/engine/speculation.h"

namespace hearth {

namespace {

constexpr double kStreamWeight = 0.15;  // moving-average weight of one verify step
constexpr double kTimeWeight = 0.1;     // of one step timing
constexpr double kPriorCostPerDraft = 0.1;

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

SpecController::SpecController(int64_t max_batch) : by_batch_(static_cast<size_t>(std::max<int64_t>(1, max_batch))) {}

SpecController::BatchTiming& SpecController::at(int64_t batch) {
  const auto i = static_cast<size_t>(std::clamp<int64_t>(batch, 1, static_cast<int64_t>(by_batch_.size())) - 1);
  return by_batch_[i];
}

const SpecController::BatchTiming* SpecController::find(int64_t batch) const {
  if (batch < 1) return nullptr;
  const auto i = static_cast<size_t>(std::min<int64_t>(batch, static_cast<int64_t>(by_batch_.size())) - 1);
  return &by_batch_[i];
}

double SpecController::plain_step_seconds(int64_t batch) const {
  const BatchTiming* t = find(batch);
  return t && t->plain_n > 0 ? t->plain_s : 0;
}

double SpecController::verify_step_seconds(int64_t batch) const {
  const BatchTiming* t = find(batch);
  return t && t->verify_n > 0 ? t->verify_s : 0;
}

// One more verified token, as a fraction of a plain step: (T_verify - T_plain) / (T_plain * drafted).
double SpecController::cost_per_draft(const BatchTiming& t) const {
  if (t.plain_n < kMinSamples || t.verify_n < kMinSamples || t.plain_s <= 0 || t.drafted_per_stream <= 0) {
    return kPriorCostPerDraft;
  }
  return std::clamp((t.verify_s - t.plain_s) / (t.plain_s * t.drafted_per_stream), 0.005, 10.0);
}

int32_t SpecController::draft_length(SpecStreamState& s, SpecMode mode, int32_t max_draft, int64_t batch) {
  if (mode == SpecMode::kOff || max_draft <= 0) return 0;
  BatchTiming& t = at(batch);
  const int32_t k = best_draft_length(s.accept_rate(), cost_per_draft(t), max_draft);
  if (mode != SpecMode::kAuto) return k;

  // Plain timings first, and again now and then.
  if (t.plain_n < kMinSamples || t.verifies_since_plain >= kPlainRefreshInterval) return 0;
  if (t.verify_n < kMinSamples || s.tokens_per_verify <= 0) return k;  // measure speculation
  const bool pays = s.tokens_per_verify * t.plain_s > t.verify_s;
  if (pays) {
    s.steps_since_probe = 0;
    return k;
  }
  if (++s.steps_since_probe >= kProbeInterval) {
    s.steps_since_probe = 0;
    return k;  // a probe: acceptance may have changed
  }
  return 0;
}

void SpecController::record_verify(SpecStreamState& s, int64_t drafted, int64_t accepted) {
  if (drafted <= 0) return;
  const double trials = static_cast<double>(accepted + (accepted < drafted ? 1 : 0));
  update(s.accepted_avg, static_cast<double>(accepted), kStreamWeight);
  update(s.trials_avg, trials, kStreamWeight);
  const double tokens = 1.0 + static_cast<double>(accepted);
  if (s.tokens_per_verify <= 0) {
    s.tokens_per_verify = tokens;
  } else {
    update(s.tokens_per_verify, tokens, kStreamWeight);
  }
}

void SpecController::record_step(int64_t batch, int64_t drafted, double seconds) {
  if (batch < 1 || seconds <= 0) return;
  BatchTiming& t = at(batch);
  auto add = [](double& avg, int64_t& n, double v) {
    if (n == 0) {
      avg = v;
    } else {
      update(avg, v, n < kMinSamples ? 1.0 / static_cast<double>(n + 1) : kTimeWeight);
    }
    ++n;
  };
  if (drafted > 0) {
    add(t.verify_s, t.verify_n, seconds);
    const double per_stream = static_cast<double>(drafted) / static_cast<double>(batch);
    if (t.verify_n == 1) {
      t.drafted_per_stream = per_stream;
    } else {
      update(t.drafted_per_stream, per_stream, kTimeWeight);
    }
    ++t.verifies_since_plain;
  } else {
    add(t.plain_s, t.plain_n, seconds);
    t.verifies_since_plain = 0;
  }
}

}  // namespace hearth
