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

#include "app/cli/bench_streams.h"
#include "app/cli/commands.h"
#include "app/cli/process_memory.h"
#include "core/backend/cuda/cuda_entry.h"
#include "core/backend/cuda/device_metrics.h"
#include "core/backend/cuda/nvml_device.h"
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
  StreamBenchOptions streams;  // --streams N: concurrent streams through the engine instead
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
  const std::optional<CudaBackendInfo> cuda = cuda_backend_info(backend);  // nullopt on the CPU
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
  if (o.roofline && o.n_gen > 0 && !cuda) {
    bw_pool = std::make_unique<kernels::cpu::ThreadPool>(
        kernels::cpu::ThreadPool::resolve_count(o.model.backend.n_threads));
  }
  uint64_t bytes_per_token = running.model->weights().matrix_bytes();
  // CUDA: the roofline counts the matrices on the device plus the F16 KV read per generated
  // token (on average half of the n_gen positions), against the device's copy bandwidth.
  std::unique_ptr<NvmlDevice> nvml;
  if (cuda) {
    const uint64_t kv_per_position = static_cast<uint64_t>(2 * config.n_layer * config.n_head_kv * config.head_dim * 2);
    bytes_per_token = cuda->weight_bytes + kv_per_position * static_cast<uint64_t>(o.n_gen + 1) / 2;
    nvml = std::make_unique<NvmlDevice>(0);
  }
  auto generate_run = [&] {  // seconds for o.n_gen greedy tokens from an empty context
    backend.truncate(0);
    TokenId token = prompt.empty() ? 1 : prompt[0];
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < o.n_gen; ++i) {
      const TokenId in[1] = {token};
      backend.forward({in, false}, logits);
      token = static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    return seconds_since(t0);
  };
  std::vector<double> pp_tps, tg_tps, bandwidths, fractions, joules_per_token, tg_no_graph_tps;
  for (int r = 0; r < o.repeats; ++r) {
    if (o.n_prompt > 0) {
      backend.truncate(0);
      const auto t0 = std::chrono::steady_clock::now();
      backend.forward({prompt, false}, logits);
      pp_tps.push_back(static_cast<double>(o.n_prompt) / seconds_since(t0));
    }
    if (o.n_gen > 0) {
      const auto energy0 = nvml ? nvml->total_energy_joules() : std::nullopt;
      tg_tps.push_back(static_cast<double>(o.n_gen) / generate_run());
      const auto energy1 = nvml ? nvml->total_energy_joules() : std::nullopt;
      if (energy0 && energy1) joules_per_token.push_back((*energy1 - *energy0) / static_cast<double>(o.n_gen));
      if (cuda && o.roofline) {
        if (const auto bw = measure_cuda_copy_bandwidth()) {
          bandwidths.push_back(*bw);
          fractions.push_back(tg_tps.back() * static_cast<double>(bytes_per_token) / bandwidths.back());
        }
      }
      if (cuda) {  // the same run with plain launches: what the CUDA graphs save
        set_cuda_graphs(backend, false);
        tg_no_graph_tps.push_back(static_cast<double>(o.n_gen) / generate_run());
        set_cuda_graphs(backend, true);
      }
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
  if (!tg_tps.empty()) j["ms_per_generated_token"] = 1000.0 / median(tg_tps);
  if (cuda) {
    j["gpu_backend_bytes"] = cuda_backend_info(backend)->device_bytes;
    if (const auto mem = cuda_memory_in_use()) j["gpu_memory_used_bytes"] = mem->used;
    if (!tg_no_graph_tps.empty()) j["generation_tokens_per_second_without_cuda_graphs"] = median(tg_no_graph_tps);
    if (!joules_per_token.empty()) j["joules_per_generated_token"] = median(joules_per_token);
  }
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
  if (j.contains("ms_per_generated_token")) {
    std::printf("time/token   %10.3f ms\n", j["ms_per_generated_token"].get<double>());
  }
  if (cuda) {
    if (j.contains("generation_tokens_per_second_without_cuda_graphs")) {
      std::printf("tg no graphs %10.2f tokens/s (plain kernel launches)\n",
                  j["generation_tokens_per_second_without_cuda_graphs"].get<double>());
    }
    if (j.contains("joules_per_generated_token")) {
      std::printf("energy       %10.4f J/token (NVML)\n", j["joules_per_generated_token"].get<double>());
    } else {
      std::printf("energy              n/a (NVML: %s)\n", nvml && !nvml->available() ? nvml->why_unavailable().c_str() : "no energy counter");
    }
    std::printf("gpu memory   %10.1f MB by the backend, %.1f MB in use on the device\n",
                static_cast<double>(cuda_backend_info(backend)->device_bytes) / 1e6,
                j.contains("gpu_memory_used_bytes") ? j["gpu_memory_used_bytes"].get<double>() / 1e6 : 0.0);
  }
  std::printf("%s  %10.1f MB\n", cuda ? "bytes/tok   " : "weights/tok ", static_cast<double>(bytes_per_token) / 1e6);
  if (j.contains("roofline_tokens_per_second")) {
    std::printf("%s %10.2f GB/s -> roofline %.2f tokens/s; generation at %.0f%% of it (median per repeat)\n",
                cuda ? "copy bw     " : "read bw     ", j["memory_read_bandwidth_gb_s"].get<double>(), j["roofline_tokens_per_second"].get<double>(),
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
  cmd->add_option("--streams", o->streams.streams, "concurrent streams through the engine (in-flight batching)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->add_option("--prompt-tokens", o->streams.prompt_tokens, "with --streams: prompt tokens per stream")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--gen-tokens", o->streams.gen_tokens, "with --streams: generated tokens per stream")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--shared-prefix", o->streams.shared_prefix, "with --streams: leading prompt tokens all streams share")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  cmd->add_option("--spec", o->streams.spec,
                  "with --streams: speculative decoding on a rewrite workload, compared with plain decode "
                  "(ngram, draft or auto)")
      ->check(CLI::IsMember({"off", "ngram", "draft", "auto"}))
      ->capture_default_str();
  cmd->add_option("--draft", o->streams.draft_path, "with --spec draft|auto: the draft model (same vocabulary as -m)");
  cmd->add_option("--max-draft", o->streams.max_draft, "with --spec: draft tokens per step at most")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--spec-repeats", o->streams.spec_repeats,  // [spec5]
                  "with --spec: pairs of plain and speculative runs, alternating (the medians are reported)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  cmd->add_flag("--whole-logits", o->streams.whole_logits,
                "with --streams: copy every logits row whole to the host (no device-side best-entries selection)");  // [host5]
  return [o] { return o->streams.streams > 0 ? run_stream_bench(o->model, o->streams, o->json) : run_bench(*o); };
}

}  // namespace hearth::cli
