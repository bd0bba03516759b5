// hearth-cli serve: the OpenAI-compatible HTTP API on one model (core/server), headless.
// Prints "listening on http://HOST:PORT" on stdout once it accepts connections (with --port 0
// the port is the one the system chose; tests read it from there). SIGINT/SIGTERM stop it.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "app/cli/bench_streams.h"
#include "app/cli/commands.h"
#include "app/cli/model_options.h"
#include "core/common/error.h"
#include "core/common/stop_signals.h"
#include "core/engine/engine.h"
#include "core/model/loaded_model.h"
#include "core/server/http_server.h"
#include "core/tokenizer/chat_template/chat_renderer.h"
#include "storage/sqlite_kv_store.h"

namespace hearth::cli {

namespace {

struct ServeOptions {
  ModelOptions model;
  server::ServerOptions server;
  std::string db_path;
  int64_t parallel = 4;
  int64_t max_queue = 64;
  int timeout_s = 10;
};

// The model file's modification time in Unix seconds (0 when unknown): /v1/models "created".
int64_t model_file_time(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_mtime);
}

int run_serve(ServeOptions& o) {
  // Signals are taken by a waiting thread, not a handler: blocked here, before any thread starts,
  // so every thread inherits the mask (Windows: Ctrl+C / Ctrl+Break / console close).
  StopSignals signals;

  std::unique_ptr<SqliteKvStore> kv_store;
  if (!o.db_path.empty()) kv_store = std::make_unique<SqliteKvStore>(o.db_path);

  EngineOptions eo;
  eo.backend = o.model.backend;
  eo.max_running = o.parallel;
  eo.max_queue = o.max_queue;
  eo.kv_store = kv_store.get();
  Engine engine(eo);
  load_engine_model(engine, o.model.model_path);

  // The tokenizer names top-logprob alternatives (the engine gives their ids); the file is mapped,
  // not read, so this costs little memory.
  std::shared_ptr<LoadedModel> names = LoadedModel::open(o.model.model_path);
  server::ServerOptions so = o.server;
  so.token_text = [names](TokenId id) { return names->tokenizer().token_to_piece(id); };
  if (so.model_id.empty()) so.model_id = std::filesystem::path(o.model.model_path).stem().string();
  so.chat_template = ChatRenderer(names->file(), names->tokenizer()).source();
  so.model_created = model_file_time(o.model.model_path);
  so.http_threads = static_cast<int>(std::max<int64_t>(so.http_threads, 2 * o.parallel + 4));
  so.read_timeout_s = o.timeout_s;
  so.write_timeout_s = o.timeout_s;
  if (kv_store) so.cache_group = "openai-api";

  server::HttpServer http(engine, so);
  const int port = http.bind();
  std::thread stopper([&] {
    const int signal = signals.wait();
    spdlog::info("serve: signal {}, stopping", signal);
    http.stop();
  });
  std::printf("listening on http://%s:%d (model '%s')\n", so.host.c_str(), port, so.model_id.c_str());
  std::fflush(stdout);
  spdlog::info("serve: {} on http://{}:{}, {} parallel sequences, {} HTTP threads", so.model_id, so.host, port, o.parallel, so.http_threads);
  http.run();
  signals.interrupt(stopper);  // wakes the waiter if run() ended on its own
  stopper.join();
  return 0;
}

}  // namespace

CommandFn add_serve_command(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand("serve", "Serve the OpenAI-compatible HTTP API (chat/completions, completions, models)");
  o->model.add_to(*cmd);
  cmd->add_option("--host", o->server.host, "address to listen on (not loopback: needs --api-key)")->capture_default_str();
  cmd->add_option("--port", o->server.port, "TCP port (0: any free port)")->check(CLI::Range(0, 65535))->capture_default_str();
  cmd->add_option("--api-key", o->server.api_key, "require 'Authorization: Bearer KEY'");
  cmd->add_option("--db", o->db_path, "persistent prefix-cache file (SQLite), e.g. kv-cache.db");
  cmd->add_option("--parallel", o->parallel, "sequences the engine runs at once")->check(CLI::Range(int64_t{1}, int64_t{256}))->capture_default_str();
  cmd->add_option("--max-queue", o->max_queue, "requests waiting before 503")->check(CLI::Range(int64_t{1}, int64_t{100000}))->capture_default_str();
  cmd->add_option("--cors-origin", o->server.cors_origins, "allow browser requests from this exact origin (repeatable)");
  cmd->add_option("--model-id", o->server.model_id, "model name clients use (default: the file name without .gguf)");
  cmd->add_option("--timeout", o->timeout_s, "seconds a client may stall while sending or receiving")->check(CLI::Range(1, 3600))->capture_default_str();
  cmd->add_option("--max-body", o->server.max_body_bytes, "largest request body in bytes")->check(CLI::Range(size_t{1024}, size_t{1} << 30))->capture_default_str();
  cmd->add_option("--max-tokens-cap", o->server.limits.max_tokens_cap, "max_tokens is clamped to this (also the default)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->capture_default_str();
  return [o] { return run_serve(*o); };
}

}  // namespace hearth::cli
