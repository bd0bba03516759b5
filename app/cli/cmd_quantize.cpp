// hearth-cli quantize: convert a GGUF model's weights to another type (llama.cpp's mixes).
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "app/cli/commands.h"
#include "core/common/error.h"
#include "core/model/quantize_model.h"
#include "kernels/cpu/thread_pool.h"

namespace hearth::cli {

namespace {

struct QuantizeCommandOptions {
  std::string input;
  std::string output;
  std::string type;
  int threads = 0;
  bool quiet = false;
};

int run_quantize(const QuantizeCommandOptions& o) {
  const auto target = parse_quant_target(o.type);
  if (!target) throw Error("unknown type '" + o.type + "' (types: " + std::string(quant_target_choices()) + ")");
  const int threads = kernels::cpu::ThreadPool::resolve_count(o.threads);
  kernels::cpu::ThreadPool pool(threads);
  const bool quiet = o.quiet;
  const LogFn log = [quiet](const std::string& line) {
    // Warnings always show; per-tensor progress only without --quiet.
    if (!quiet || line.rfind("warning", 0) == 0) std::fprintf(stderr, "%s\n", line.c_str());
  };
  const auto start = std::chrono::steady_clock::now();
  const auto summary = quantize_model(o.input, o.output, *target, pool, log);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string types;
  for (const auto& [name, count] : summary.tensors_per_type) {
    types += (types.empty() ? "" : ", ") + name + " " + std::to_string(count);
  }
  std::fprintf(stderr, "wrote %s (%s): %zu tensors (%s), %.1f MiB -> %.1f MiB of weights in %.1f s\n", o.output.c_str(),
               std::string(quant_target_name(*target)).c_str(), summary.n_tensors, types.c_str(),
               static_cast<double>(summary.input_bytes) / (1024.0 * 1024.0),
               static_cast<double>(summary.output_bytes) / (1024.0 * 1024.0), seconds);
  return 0;
}

}  // namespace

CommandFn add_quantize_command(CLI::App& app) {
  auto o = std::make_shared<QuantizeCommandOptions>();
  auto* cmd = app.add_subcommand("quantize", "Convert a GGUF model's weights: quantize IN OUT TYPE");
  cmd->add_option("input", o->input, "input .gguf file")->required()->check(CLI::ExistingFile);
  cmd->add_option("output", o->output, "output .gguf file")->required();
  cmd->add_option("type", o->type, "target: " + std::string(quant_target_choices()))->required();
  cmd->add_option("-t,--threads", o->threads, "worker threads (default: all cores)")->check(CLI::Range(0, 1024));
  cmd->add_flag("-q,--quiet", o->quiet, "no per-tensor progress on stderr");
  return [o] { return run_quantize(*o); };
}

}  // namespace hearth::cli
