// hearth-cli synth: write a random-weight GGUF with the shapes, vocabulary and metadata of a real
// model (see core/model/model_presets.cpp for the presets).
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "app/cli/commands.h"
#include "core/common/error.h"
#include "core/model/model_presets.h"
#include "core/model/synth_model.h"
#include "kernels/cpu/thread_pool.h"

namespace hearth::cli {

namespace {

struct SynthCommandOptions {
  std::string preset;
  std::string type = "f32";
  std::string out;
  uint64_t seed = 1;
  int64_t layers = 0;  // 0: the preset's
  int threads = 0;
  bool quiet = false;
};

std::string preset_names() {
  std::string names;
  for (const auto& p : model_presets()) names += (names.empty() ? "" : ", ") + std::string(p.name);
  return names;
}

int run_synth(const SynthCommandOptions& o) {
  const ModelPreset* found = find_model_preset(o.preset);
  if (!found) throw Error("unknown preset '" + o.preset + "' (presets: " + preset_names() + ")");
  // --layers N: the preset's first N layers. Weights are a function of (seed, tensor name, row)
  // only, so this is exactly the full model's first N blocks with its embeddings, final norm and
  // output head: a draft model for speculative decoding whose agreement with the target is real.
  ModelPreset shape = *found;
  if (o.layers > 0) {
    if (o.layers > found->n_layer) {
      throw Error("--layers " + std::to_string(o.layers) + ": the preset has " + std::to_string(found->n_layer));
    }
    shape.n_layer = o.layers;
  }
  const ModelPreset* preset = &shape;
  const auto type = parse_quant_target(o.type);
  if (!type) throw Error("unknown --type '" + o.type + "' (types: " + std::string(quant_target_choices()) + ")");
  const int threads = kernels::cpu::ThreadPool::resolve_count(o.threads);
  kernels::cpu::ThreadPool pool(threads);

  SynthOptions options;
  options.type = *type;
  options.seed = o.seed;
  if (!o.quiet) options.log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  const auto start = std::chrono::steady_clock::now();
  synth_model_file(o.out, *preset, options, pool);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "wrote %s: %s %s, %.1f MiB in %.1f s (%d threads)\n", o.out.c_str(),
               std::string(preset->name).c_str(), std::string(quant_target_name(*type)).c_str(),
               static_cast<double>(std::filesystem::file_size(o.out)) / (1024.0 * 1024.0), seconds, threads);
  return 0;
}

}  // namespace

CommandFn add_synth_command(CLI::App& app) {
  auto o = std::make_shared<SynthCommandOptions>();
  auto* cmd = app.add_subcommand("synth", "Write a random-weight GGUF model with the shapes of a real one");
  cmd->add_option("--preset", o->preset, "model shape: " + preset_names())->required();
  cmd->add_option("--type", o->type, "weight type: " + std::string(quant_target_choices()))->capture_default_str();
  cmd->add_option("-o,--out", o->out, "output .gguf file")->required();
  cmd->add_option("--seed", o->seed, "random seed (same seed, same file)")->capture_default_str();
  cmd->add_option("--layers", o->layers,
                  "keep only the first N layers (same weights as the full model's first N; a draft model)")
      ->check(CLI::Range(int64_t{0}, int64_t{1024}));
  cmd->add_option("-t,--threads", o->threads, "worker threads (default: all cores)")
      ->check(CLI::Range(0, 1024));
  cmd->add_flag("-q,--quiet", o->quiet, "no per-tensor progress on stderr");
  return [o] { return run_synth(*o); };
}

}  // namespace hearth::cli
