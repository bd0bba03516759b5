// hearth-cli batch: offline batch inference through the Engine. Reads JSON lines
//   {"prompt": "..."} or {"messages": [{"role": "user", "content": "..."}, ...]}
// with optional "max_tokens", "temperature", "seed", runs them concurrently and writes one JSON
// line per input line, in input order: {"line", "text", "finish_reason", "prompt_tokens",
// "completion_tokens", "cached_tokens", "timings": {...}} or {"line", "error"}. A bad line gets
// an error line; it never stops the others.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "app/cli/bench_streams.h"
#include "app/cli/commands.h"
#include "app/cli/model_options.h"
#include "app/cli/sampling_options.h"
#include "core/common/error.h"
#include "core/engine/engine.h"

namespace hearth::cli {

namespace {

struct BatchOptions {
  ModelOptions model;
  SamplingParams sampling;
  std::string prompts_path;
  std::string out_path;
  int64_t n_predict = 128;
  int64_t concurrency = 8;
};

// One input line -> a Request, or an error message.
std::optional<Request> parse_line(const std::string& line, const BatchOptions& o, std::string& error) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const std::exception& e) {
    error = std::string("not valid JSON: ") + e.what();
    return std::nullopt;
  }
  if (!j.is_object()) {
    error = "a line must be a JSON object";
    return std::nullopt;
  }
  Request r;
  r.sampling = o.sampling;
  r.max_tokens = o.n_predict;
  try {
    if (j.contains("messages")) {
      const auto& m = j.at("messages");
      if (!m.is_array() || m.empty()) throw Error("\"messages\" must be a non-empty array");
      for (const auto& msg : m) {
        if (!msg.is_object() || !msg.contains("role") || !msg.contains("content") || !msg.at("role").is_string() ||
            !msg.at("content").is_string()) {
          throw Error("each message needs string \"role\" and \"content\"");
        }
        r.messages.push_back({msg.at("role").get<std::string>(), msg.at("content").get<std::string>()});
      }
    } else if (j.contains("prompt")) {
      if (!j.at("prompt").is_string()) throw Error("\"prompt\" must be a string");
      r.prompt_text = j.at("prompt").get<std::string>();
    } else {
      throw Error("a line needs \"prompt\" or \"messages\"");
    }
    if (j.contains("max_tokens")) {
      if (!j.at("max_tokens").is_number_integer() || j.at("max_tokens").get<int64_t>() < 0 ||
          j.at("max_tokens").get<int64_t>() > (int64_t{1} << 24)) {
        throw Error("\"max_tokens\" must be an integer from 0 to 16777216");
      }
      r.max_tokens = j.at("max_tokens").get<int64_t>();
    }
    if (j.contains("temperature")) {
      if (!j.at("temperature").is_number() || j.at("temperature").get<double>() < 0 || j.at("temperature").get<double>() > 100) {
        throw Error("\"temperature\" must be a number from 0 to 100");
      }
      r.sampling.temperature = j.at("temperature").get<float>();
    }
    if (j.contains("seed")) {
      if (!j.at("seed").is_number_unsigned()) throw Error("\"seed\" must be a non-negative integer");
      r.sampling.seed = j.at("seed").get<uint64_t>();
    }
  } catch (const std::exception& e) {
    error = e.what();
    return std::nullopt;
  }
  return r;
}

struct Slot {
  std::string text;
  bool done = false;
  RequestEvent finish;
};

int run_batch(const BatchOptions& o) {
  std::ifstream in(o.prompts_path);
  if (!in) throw Error("cannot read --prompts file " + o.prompts_path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);

  EngineOptions eo;
  eo.backend = o.model.backend;
  eo.max_running = o.concurrency;
  eo.max_queue = static_cast<int64_t>(lines.size()) + 1;
  Engine engine(eo);
  load_engine_model(engine, o.model.model_path);

  std::mutex m;
  std::condition_variable cv;
  std::vector<Slot> slots(lines.size());
  std::vector<nlohmann::json> results(lines.size());
  size_t pending = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    results[i] = {{"line", i + 1}};
    if (lines[i].find_first_not_of(" \t\r") == std::string::npos) {
      results[i]["error"] = "empty line";
      continue;
    }
    std::string error;
    auto request = parse_line(lines[i], o, error);
    if (!request) {
      results[i]["error"] = error;
      continue;
    }
    try {
      std::lock_guard lock(m);  // the sink may run before submit returns
      engine.submit(std::move(*request), [&, i](const RequestEvent& e) {
        std::lock_guard lock(m);
        if (e.kind == RequestEvent::Kind::kDelta) slots[i].text += e.text;
        if (e.kind == RequestEvent::Kind::kFinished) {
          slots[i].finish = e;
          slots[i].done = true;
          --pending;
          cv.notify_all();
        }
      });
      ++pending;
    } catch (const std::exception& e) {
      results[i]["error"] = e.what();
    }
  }
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return pending == 0; });
  }

  for (size_t i = 0; i < lines.size(); ++i) {
    if (!slots[i].done) continue;
    const RequestEvent& f = slots[i].finish;
    nlohmann::json& r = results[i];
    if (f.finish_reason == "error") {
      r["error"] = f.error;
      continue;
    }
    r["text"] = slots[i].text;
    r["finish_reason"] = f.finish_reason;
    r["prompt_tokens"] = f.usage.prompt_tokens;
    r["completion_tokens"] = f.usage.completion_tokens;
    r["cached_tokens"] = f.usage.cached_tokens;
    r["timings"] = {{"queue_ms", f.timings.queue_ms},
                    {"time_to_first_token_ms", f.timings.time_to_first_token_ms},
                    {"prompt_ms", f.timings.prompt_ms},
                    {"decode_ms", f.timings.decode_ms},
                    {"decode_tokens_per_second", f.timings.decode_tokens_per_second}};
  }

  std::FILE* out = stdout;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(nullptr, &std::fclose);
  if (!o.out_path.empty()) {
    file.reset(std::fopen(o.out_path.c_str(), "wb"));
    if (!file) throw Error("cannot write --out file " + o.out_path);
    out = file.get();
  }
  int failed = 0;
  for (const auto& r : results) {
    // Invalid UTF-8 from a model is replaced, never a reason to lose the line.
    const std::string line = r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::fprintf(out, "%s\n", line.c_str());
    if (r.contains("error")) ++failed;
  }
  if (std::fflush(out) != 0) throw Error("writing the results failed");
  const EngineStats st = engine.stats();
  spdlog::info("batch: {} prompts, {} failed; {} tokens generated; prefix cache hit rate {:.1f}%", lines.size(), failed,
               st.tokens_generated, 100.0 * st.prefix_hit_rate);
  return 0;
}

}  // namespace

CommandFn add_batch_command(CLI::App& app) {
  auto o = std::make_shared<BatchOptions>();
  auto* cmd = app.add_subcommand("batch", "Run a JSONL file of prompts concurrently through the engine");
  o->model.add_to(*cmd);
  add_sampling_options(*cmd, o->sampling);
  cmd->add_option("--prompts", o->prompts_path, "JSONL file: {\"prompt\": ...} or {\"messages\": [...]} per line")->required();
  cmd->add_option("--out", o->out_path, "write the results here (JSONL) instead of stdout");
  cmd->add_option("-n,--n-predict", o->n_predict, "tokens to generate per prompt (a line's max_tokens wins)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 24))
      ->capture_default_str();
  cmd->add_option("--concurrency", o->concurrency, "sequences in flight")->check(CLI::Range(int64_t{1}, int64_t{1024}))->capture_default_str();
  return [o] { return run_batch(*o); };
}

}  // namespace hearth::cli
