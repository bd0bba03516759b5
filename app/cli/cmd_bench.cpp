// hearth-cli bench: prompt-processing and generation throughput (median of repeats), memory, and
// generation beside the roofline (weight bytes read per token / measured read bandwidth).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "app/cli/commands.h"
#include "app/cli/process_memory.h"
#include "kernels/cpu/memory_bandwidth.h"
#include "app/cli/model_options.h"
#include "core/common/error.h"
#include "kernels/cpu/thread_pool.h"

namespace hearth::cli {

namespace {

struct BenchOptions {
  ModelOptions model;
  int64_t n_prompt = 512;
  int64_t n_gen = 128;
  int repeats = 5;
  bool json = false;
  bool roofline = true;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

int run_bench(const BenchOptions& o) {
  auto running = open_model(o.model);
  auto& backend = *running.choice.backend;
  const auto& config = running.model->config();
  if (o.n_prompt + o.n_gen > backend.context_size()) {
    throw Error("-p + -n exceeds the context size; raise --ctx-size");
  }
  std::mt19937 rng(1234);
  std::uniform_int_distribution<TokenId> any_token(0, static_cast<TokenId>(config.n_vocab - 1));
  std::vector<TokenId> prompt(static_cast<size_t>(o.n_prompt));
  for (auto& t : prompt) t = any_token(rng);

  std::vector<float> logits;
  // Warm-up: pages of the mapped weights come in, threads spin up.
  backend.truncate(0);
  const TokenId warm[1] = {prompt.empty() ? 0 : prompt[0]};
  backend.forward({warm, false}, logits);

  // The roofline is measured inside every repeat, right after its generation run, so a noisy
  // neighbour on a shared machine moves both numbers of a repeat together; the reported fraction
  // is the median of the per-repeat fractions.
  std::unique_ptr<kernels::cpu::ThreadPool> bw_pool;
  if (o.roofline && o.n_gen > 0) {
    bw_pool = std::make_unique<kernels::cpu::ThreadPool>(
        kernels::cpu::ThreadPool::resolve_count(o.model.backend.n_threads));
  }
  const uint64_t bytes_per_token = running.model->weights().matrix_bytes();
  std::vector<double> pp_tps, tg_tps, bandwidths, fractions;
  for (int r = 0; r < o.repeats; ++r) {
    if (o.n_prompt > 0) {
      backend.truncate(0);
      const auto t0 = std::chrono::steady_clock::now();
      backend.forward({prompt, false}, logits);
      pp_tps.push_back(static_cast<double>(o.n_prompt) / seconds_since(t0));
    }
    if (o.n_gen > 0) {
      backend.truncate(0);
      TokenId token = prompt.empty() ? 1 : prompt[0];
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t i = 0; i < o.n_gen; ++i) {
        const TokenId in[1] = {token};
        backend.forward({in, false}, logits);
        token = static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      }
      tg_tps.push_back(static_cast<double>(o.n_gen) / seconds_since(t0));
      if (bw_pool) {
        bandwidths.push_back(kernels::cpu::measure_read_bandwidth(*bw_pool, 512ull << 20, 2));
        fractions.push_back(tg_tps.back() * static_cast<double>(bytes_per_token) / bandwidths.back());
      }
    }
  }

  nlohmann::json j = {
      {"model", running.model->path().filename().string()},
      {"architecture", config.arch_name},
      {"device", backend.device_name()},
      {"n_prompt", o.n_prompt},
      {"n_gen", o.n_gen},
      {"repeats", o.repeats},
      {"weight_bytes_per_token", bytes_per_token},
      {"resident_bytes", resident_bytes()},
      {"peak_resident_bytes", peak_resident_bytes()},
  };
  if (!pp_tps.empty()) j["prompt_tokens_per_second"] = median(pp_tps);
  if (!tg_tps.empty()) j["generation_tokens_per_second"] = median(tg_tps);
  if (!fractions.empty()) {
    const double bw = median(bandwidths);
    j["memory_read_bandwidth_gb_s"] = bw / 1e9;
    j["roofline_tokens_per_second"] = bw / static_cast<double>(bytes_per_token);
    j["fraction_of_roofline"] = median(fractions);
  }
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("model        %s (%s)\n", j["model"].get<std::string>().c_str(), config.arch_name.c_str());
  std::printf("device       %s\n", backend.device_name().c_str());
  if (j.contains("prompt_tokens_per_second")) {
    std::printf("pp%-6lld    %10.2f tokens/s\n", static_cast<long long>(o.n_prompt), j["prompt_tokens_per_second"].get<double>());
  }
  if (j.contains("generation_tokens_per_second")) {
    std::printf("tg%-6lld    %10.2f tokens/s\n", static_cast<long long>(o.n_gen), j["generation_tokens_per_second"].get<double>());
  }
  std::printf("weights/tok  %10.1f MB\n", static_cast<double>(bytes_per_token) / 1e6);
  if (j.contains("roofline_tokens_per_second")) {
    std::printf("read bw      %10.2f GB/s -> roofline %.2f tokens/s; generation at %.0f%% of it (median per repeat)\n",
                j["memory_read_bandwidth_gb_s"].get<double>(), j["roofline_tokens_per_second"].get<double>(),
                100.0 * j["fraction_of_roofline"].get<double>());
  }
  std::printf("memory       %10.1f MB resident, %.1f MB peak\n", static_cast<double>(resident_bytes()) / 1e6,
              static_cast<double>(peak_resident_bytes()) / 1e6);
  return 0;
}

}  // namespace

CommandFn add_bench_command(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand("bench", "Measure prompt processing and generation speed");
  o->model.add_to(*cmd);
  cmd->add_option("-p,--n-prompt", o->n_prompt, "prompt tokens")->check(CLI::Range(int64_t{0}, int64_t{1} << 20))->capture_default_str();
  cmd->add_option("-n,--n-gen", o->n_gen, "generated tokens")->check(CLI::Range(int64_t{0}, int64_t{1} << 20))->capture_default_str();
  cmd->add_option("-r,--repeats", o->repeats, "repeats (the median is reported)")->check(CLI::Range(1, 1000))->capture_default_str();
  cmd->add_flag("--json", o->json, "print JSON");
  cmd->add_flag("!--no-roofline", o->roofline, "skip the memory bandwidth measurement");
  return [o] { return run_bench(*o); };
}

}  // namespace hearth::cli
