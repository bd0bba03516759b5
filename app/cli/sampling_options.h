#pragma once
// Sampling flags shared by generate and chat.
#include <CLI/CLI.hpp>

#include "core/sampling/sampler.h"

namespace hearth::cli {

inline void add_sampling_options(CLI::App& cmd, SamplingParams& p) {
  cmd.add_option("--temp", p.temperature, "temperature (0 = greedy)")->check(CLI::Range(0.0f, 100.0f))->capture_default_str();
  cmd.add_option("--top-k", p.top_k, "keep the k most likely tokens (0 = off)")->check(CLI::Range(0, 1 << 30))->capture_default_str();
  cmd.add_option("--top-p", p.top_p, "nucleus sampling (1 = off)")->check(CLI::Range(0.0f, 1.0f))->capture_default_str();
  cmd.add_option("--min-p", p.min_p, "drop tokens below min-p x the top probability (0 = off)")->check(CLI::Range(0.0f, 1.0f))->capture_default_str();
  cmd.add_option("--repeat-penalty", p.repeat_penalty, "repetition penalty (1 = off)")->check(CLI::Range(0.0f, 10.0f))->capture_default_str();
  cmd.add_option("--repeat-last-n", p.penalty_last_n, "tokens of history the penalties see")->check(CLI::Range(0, 1 << 20))->capture_default_str();
  cmd.add_option("--presence-penalty", p.presence_penalty, "presence penalty")->check(CLI::Range(-2.0f, 2.0f));
  cmd.add_option("--frequency-penalty", p.frequency_penalty, "frequency penalty")->check(CLI::Range(-2.0f, 2.0f));
  cmd.add_option("--seed", p.seed, "random seed (same seed, same tokens)")->capture_default_str();
}

}  // namespace hearth::cli
