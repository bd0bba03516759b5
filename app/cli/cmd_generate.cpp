// hearth-cli generate: continue a prompt; only the generated text goes to stdout.
// Without --db it runs the single-sequence path on a backend of its own (no persistent cache).
// With --db PATH it runs through the Engine with a SqliteKvStore at PATH: the prompt's full KV
// blocks are saved there when the request finishes, and a later run whose prompt starts with
// the same blocks (same model, same KV layout) loads them instead of prefilling them.
// With --spec ngram|draft|auto (speculative decoding; --draft MODEL for a draft model) it also
// runs through the Engine, and --stats-json reports drafted/accepted tokens.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <future>
#include <memory>

#include "app/cli/bench_streams.h"
#include "app/cli/commands.h"
#include "app/cli/model_options.h"
#include "app/cli/sampling_options.h"
#include "core/common/error.h"
#include "core/engine/engine.h"
#include "core/engine/generation.h"
#include "storage/sqlite_kv_store.h"

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
  std::string db_path;  // persistent prefix/KV cache; empty: none
  std::string spec = "off";   // speculative decoding: off, ngram, draft, auto
  std::string draft_path;     // --draft: the draft model
  int32_t max_draft = 8;
};

// Speculative decoding counters for --stats-json (zeros when off).
struct SpecReport {
  std::string mode = "off";
  int64_t drafted = 0, accepted = 0, verify_steps = 0;
};

// Where the prompt's tokens came from: the persistent store, the in-memory prefix cache, or a
// forward pass. Without --db everything is prefilled.
struct PromptSources {
  int64_t restored_from_disk = 0;
  int64_t restored_from_memory = 0;
  int64_t prefilled = 0;
};

void write_stats(const std::string& path, const GenerationStats& s, const std::string& device,
                 const PromptSources& sources, const SpecReport& spec = {}) {
  nlohmann::json j = {
      {"prompt_tokens", s.prompt_tokens},
      {"generated_tokens", s.generated_tokens},
      {"time_to_first_token_ms", s.time_to_first_token_ms},
      {"prompt_tokens_per_second", s.prompt_tokens_per_second()},
      {"decode_tokens_per_second", s.decode_tokens_per_second()},
      {"finish_reason", s.finish_reason},
      {"device", device},
      {"restored_from_disk_tokens", sources.restored_from_disk},
      {"restored_from_memory_tokens", sources.restored_from_memory},
      {"prefilled_tokens", sources.prefilled},
      {"spec", spec.mode},
      {"drafted_tokens", spec.drafted},
      {"accepted_tokens", spec.accepted},
      {"acceptance_rate", spec.drafted > 0 ? static_cast<double>(spec.accepted) / static_cast<double>(spec.drafted) : 0.0},
      {"mean_accepted_length",
       spec.verify_steps > 0 ? static_cast<double>(spec.accepted) / static_cast<double>(spec.verify_steps) : 0.0},
  };
  std::ofstream out(path);
  if (!out) throw Error("cannot write --stats-json file " + path);
  out << j.dump(2) << "\n";
  if (!out) throw Error("cannot write --stats-json file " + path);
}

std::vector<TokenId> encode_prompt(const Tokenizer& tokenizer, const GenerateOptions& o) {
  const bool add_bos = tokenizer.add_bos_by_default() && !o.no_bos;
  auto tokens = tokenizer.encode(o.prompt, add_bos, /*parse_special=*/false);
  if (tokens.empty()) throw Error("the prompt is empty (give some text with -p)");
  return tokens;
}

void log_stats(const GenerationStats& stats) {
  spdlog::info("prompt {} tokens, generated {} tokens, first token {:.1f} ms, {:.2f} tokens/s ({})",
               stats.prompt_tokens, stats.generated_tokens, stats.time_to_first_token_ms,
               stats.decode_tokens_per_second(), stats.finish_reason);
}

// The Engine path (--db and/or --spec): one request, the store (if any) as the engine's
// persistent prefix cache.
int run_generate_with_store(const GenerateOptions& o) {
  std::unique_ptr<SqliteKvStore> store;
  if (!o.db_path.empty()) store = std::make_unique<SqliteKvStore>(o.db_path);
  EngineOptions eo;
  eo.backend = o.model.backend;
  eo.max_running = 1;
  eo.max_queue = 1;
  eo.kv_store = store.get();
  eo.draft_model_path = o.draft_path;
  Engine engine(eo);
  load_engine_model(engine, o.model.model_path);
  std::vector<TokenId> prompt;
  {
    // The tokenizer only: the file is mapped, not read, so this costs little.
    const auto names = LoadedModel::open(o.model.model_path);
    prompt = encode_prompt(names->tokenizer(), o);
  }
  Request request;
  request.prompt_tokens = std::move(prompt);
  request.max_tokens = o.n_predict;
  request.ignore_eos = o.ignore_eos;
  request.sampling = o.sampling;
  if (store) request.cache_group = "cli-generate";  // non-empty: the engine saves the blocks when it finishes
  request.spec = *parse_spec_mode(o.spec);
  request.spec_max_draft = o.max_draft;

  std::promise<RequestEvent> finished;
  auto done = finished.get_future();
  engine.submit(std::move(request), [&finished](const RequestEvent& e) {
    if (e.kind == RequestEvent::Kind::kDelta) {
      std::fwrite(e.text.data(), 1, e.text.size(), stdout);
      std::fflush(stdout);
    } else if (e.kind == RequestEvent::Kind::kFinished) {
      finished.set_value(e);
    }
  });
  const RequestEvent end = done.get();
  if (end.finish_reason == "error") throw Error("generation failed: " + end.error);
  std::fputc('\n', stdout);

  GenerationStats stats;
  stats.prompt_tokens = end.usage.prompt_tokens;
  stats.generated_tokens = end.usage.completion_tokens;
  stats.time_to_first_token_ms = end.timings.time_to_first_token_ms;
  stats.prompt_ms = end.timings.prompt_ms;
  stats.decode_ms = end.timings.decode_ms;
  stats.finish_reason = end.finish_reason;
  const PromptSources sources{end.usage.restored_tokens, end.usage.cached_tokens, end.usage.prefilled_tokens};
  log_stats(stats);
  if (store) {
    spdlog::info("prompt tokens: {} restored from {}, {} from memory, {} prefilled", sources.restored_from_disk,
                 o.db_path, sources.restored_from_memory, sources.prefilled);
  }
  const SpecReport spec{o.spec, end.usage.drafted_tokens, end.usage.accepted_tokens, end.usage.verify_steps};
  if (spec.mode != "off") {
    spdlog::info("speculative decoding ({}): {} drafted, {} accepted ({:.1f}%), {:.2f} accepted per verify step", spec.mode,
                 spec.drafted, spec.accepted, spec.drafted ? 100.0 * spec.accepted / spec.drafted : 0.0,
                 spec.verify_steps ? static_cast<double>(spec.accepted) / spec.verify_steps : 0.0);
  }
  if (!o.stats_json.empty()) write_stats(o.stats_json, stats, engine.stats().device, sources, spec);
  return 0;
}

int run_generate(const GenerateOptions& o) {
  if (!o.draft_path.empty() && o.spec == "off") throw Error("--draft needs --spec draft or --spec auto");
  if (!o.db_path.empty() || o.spec != "off") return run_generate_with_store(o);
  auto running = open_model(o.model);
  const auto& tokenizer = running.model->tokenizer();
  GenerationRequest request;
  request.prompt = encode_prompt(tokenizer, o);
  request.max_tokens = o.n_predict;
  request.stop_at_end_of_generation = !o.ignore_eos;
  Sampler sampler(o.sampling, static_cast<int32_t>(running.model->config().n_vocab));
  const auto stats = generate(*running.choice.backend, tokenizer, sampler, request, [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::fputc('\n', stdout);
  log_stats(stats);
  const PromptSources sources{0, 0, stats.prompt_tokens};
  if (!o.stats_json.empty()) write_stats(o.stats_json, stats, running.choice.backend->device_name(), sources);
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
  cmd->add_option("--stats-json", o->stats_json,
                  "write token counts (prompt tokens restored from disk, from memory, prefilled), time to first "
                  "token, tokens/s and device as JSON");
  cmd->add_option("--db", o->db_path,
                  "persistent prefix/KV cache file (SQLite, e.g. kv-cache.db): the prompt's KV blocks are saved "
                  "there, and a later run with the same prompt prefix loads them instead of prefilling "
                  "(default: no persistent cache)");
  cmd->add_option("--spec", o->spec, "speculative decoding: off, ngram (prompt lookup), draft (--draft MODEL) or auto")
      ->check(CLI::IsMember({"off", "ngram", "draft", "auto"}))
      ->capture_default_str();
  cmd->add_option("--draft", o->draft_path, "draft model for --spec draft|auto (same vocabulary as -m)");
  cmd->add_option("--max-draft", o->max_draft, "draft tokens per step at most (the length adapts below it)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  return [o] { return run_generate(*o); };
}

}  // namespace hearth::cli
