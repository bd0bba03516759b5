// hearth-cli generate: continue a prompt; only the generated text goes to stdout.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include "app/cli/commands.h"
#include "app/cli/model_options.h"
#include "app/cli/sampling_options.h"
#include "core/common/error.h"
#include "core/engine/generation.h"

namespace hearth::cli {

namespace {

struct GenerateOptions {
  ModelOptions model;
  SamplingParams sampling;
  std::string prompt;
  int64_t n_predict = 128;
  bool ignore_eos = false;
  bool no_bos = false;
  std::string stats_json;
};

void write_stats(const std::string& path, const GenerationStats& s, const std::string& device) {
  nlohmann::json j = {
      {"prompt_tokens", s.prompt_tokens},
      {"generated_tokens", s.generated_tokens},
      {"time_to_first_token_ms", s.time_to_first_token_ms},
      {"prompt_tokens_per_second", s.prompt_tokens_per_second()},
      {"decode_tokens_per_second", s.decode_tokens_per_second()},
      {"finish_reason", s.finish_reason},
      {"device", device},
  };
  std::ofstream out(path);
  if (!out) throw Error("cannot write --stats-json file " + path);
  out << j.dump(2) << "\n";
  if (!out) throw Error("cannot write --stats-json file " + path);
}

int run_generate(const GenerateOptions& o) {
  auto running = open_model(o.model);
  const auto& tokenizer = running.model->tokenizer();
  const bool add_bos = tokenizer.add_bos_by_default() && !o.no_bos;
  GenerationRequest request;
  request.prompt = tokenizer.encode(o.prompt, add_bos, /*parse_special=*/false);
  if (request.prompt.empty()) throw Error("the prompt is empty (give some text with -p)");
  request.max_tokens = o.n_predict;
  request.stop_at_end_of_generation = !o.ignore_eos;
  Sampler sampler(o.sampling, static_cast<int32_t>(running.model->config().n_vocab));
  const auto stats = generate(*running.choice.backend, tokenizer, sampler, request, [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::fputc('\n', stdout);
  spdlog::info("prompt {} tokens, generated {} tokens, first token {:.1f} ms, {:.2f} tokens/s ({})",
               stats.prompt_tokens, stats.generated_tokens, stats.time_to_first_token_ms,
               stats.decode_tokens_per_second(), stats.finish_reason);
  if (!o.stats_json.empty()) write_stats(o.stats_json, stats, running.choice.backend->device_name());
  return 0;
}

}  // namespace

CommandFn add_generate_command(CLI::App& app) {
  auto o = std::make_shared<GenerateOptions>();
  auto* cmd = app.add_subcommand("generate", "Continue a prompt; prints only the generated text");
  o->model.add_to(*cmd);
  cmd->add_option("-p,--prompt", o->prompt, "prompt text")->required();
  cmd->add_option("-n,--n-predict", o->n_predict, "tokens to generate")->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->capture_default_str();
  add_sampling_options(*cmd, o->sampling);
  cmd->add_flag("--ignore-eos", o->ignore_eos, "keep generating past end-of-generation tokens");
  cmd->add_flag("--no-bos", o->no_bos, "do not add the beginning-of-sequence token");
  cmd->add_option("--stats-json", o->stats_json, "write token counts, time to first token, tokens/s and device as JSON");
  return [o] { return run_generate(*o); };
}

}  // namespace hearth::cli
