// hearth-cli bench-restore: time to first token of a long prompt computed cold versus restored
// from the persistent KV cache (SQLite) after the engine and backend are gone (issue 7's
// benchmark). Prints one JSON object on stdout.
//
// --phase both (default): in one process, a cold run on an emptied cache (the engine saves the
// prompt's blocks when the request finishes), then the engine, backend and store connection are
// dropped and a new set restores the prompt. --phase cold / --phase restored run one half each,
// so the restore can be measured after a real process restart (same --db, same --seed); pass the
// cold run's cold_ttft_ms to the restored run with --cold-ttft-ms to get the ratio.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <random>
#include <unistd.h>

#include "app/cli/bench_streams.h"
#include "app/cli/commands.h"
#include "app/cli/model_options.h"
#include "core/common/error.h"
#include "core/engine/engine.h"
#include "core/kv/kv_store.h"
#include "storage/sqlite_kv_store.h"

namespace hearth::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct BenchRestoreOptions {
  ModelOptions model;
  std::string db_path;  // empty: a temporary file, removed afterwards
  int64_t prompt_tokens = 4096;
  std::string phase = "both";
  double cold_ttft_ms = 0;  // --phase restored: the cold run's number, for the ratio
  uint64_t seed = 1234;
};

// Forwards to the real store and measures what the engine spends in it.
class TimedKvStore final : public KvStore {
 public:
  explicit TimedKvStore(KvStore& inner) : inner_(inner) {}

  void save(const KvFingerprint& f, const std::string& group, std::span<const KvBlockRecord> blocks) override {
    const auto t0 = Clock::now();
    inner_.save(f, group, blocks);
    save_ms += ms_since(t0);
    for (const auto& b : blocks) saved_bytes += static_cast<int64_t>(b.data.size());
  }
  std::optional<KvBlockRecord> load(const KvFingerprint& f, uint64_t chain_hash) override {
    const auto t0 = Clock::now();
    auto r = inner_.load(f, chain_hash);
    load_ms += ms_since(t0);
    if (r) loaded_bytes += static_cast<int64_t>(r->data.size());
    return r;
  }
  std::vector<std::optional<KvBlockRecord>> load_chain(const KvFingerprint& f,
                                                       std::span<const uint64_t> chain_hashes) override {
    const auto t0 = Clock::now();
    auto out = inner_.load_chain(f, chain_hashes);
    load_ms += ms_since(t0);
    for (const auto& r : out) {
      if (r) loaded_bytes += static_cast<int64_t>(r->data.size());
    }
    return out;
  }
  bool contains(const KvFingerprint& f, uint64_t chain_hash) override {
    const auto t0 = Clock::now();
    const bool found = inner_.contains(f, chain_hash);
    contains_ms += ms_since(t0);
    return found;
  }

  double save_ms = 0, load_ms = 0, contains_ms = 0;
  int64_t saved_bytes = 0, loaded_bytes = 0;

 private:
  static double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  }
  KvStore& inner_;
};

// Forwards to the real backend and measures the KV block writes (the restore's copy into the
// pool: host to device on CUDA) and the forward passes.
class TimedBackend final : public Backend {
 public:
  explicit TimedBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}

  std::string device_name() const override { return inner_->device_name(); }
  int64_t context_size() const override { return inner_->context_size(); }
  int64_t n_vocab() const override { return inner_->n_vocab(); }
  KvGeometry kv_geometry() const override { return inner_->kv_geometry(); }
  int64_t kv_block_count() const override { return inner_->kv_block_count(); }
  void forward_batch(std::span<const SequenceSlice> sequences, std::vector<float>& logits) override {
    const auto t0 = Clock::now();
    inner_->forward_batch(sequences, logits);
    times_->forward_ms += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  }
  void copy_kv_block(int32_t src, int32_t dst) override { inner_->copy_kv_block(src, dst); }
  void read_kv_block(int32_t block, std::span<std::byte> bytes) const override { inner_->read_kv_block(block, bytes); }
  void write_kv_block(int32_t block, std::span<const std::byte> bytes) override {
    const auto t0 = Clock::now();
    inner_->write_kv_block(block, bytes);
    times_->kv_write_ms += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  }

  struct Times {
    double forward_ms = 0, kv_write_ms = 0;
  };
  // Shared with the bench: the engine owns (and destroys) the backend.
  std::shared_ptr<Times> times() const { return times_; }

 private:
  std::unique_ptr<Backend> inner_;
  std::shared_ptr<Times> times_ = std::make_shared<Times>();
};

struct PhaseResult {
  RequestEvent finish;
  double load_model_ms = 0;
  double store_load_ms = 0, store_contains_ms = 0, store_save_ms = 0;
  int64_t loaded_bytes = 0, saved_bytes = 0;
  double forward_ms = 0, kv_write_ms = 0;
  std::string device;
};

// A fixed "system prompt" of random ordinary tokens (BOS first), the same for the same seed.
std::vector<TokenId> make_prompt(const std::string& model_path, int64_t n, uint64_t seed) {
  const auto lm = LoadedModel::open(model_path);
  const int32_t n_vocab = lm->tokenizer().vocab_size();
  const TokenId bos = lm->tokenizer().bos();
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<TokenId> any(3, std::max<TokenId>(3, n_vocab - 1));
  std::vector<TokenId> tokens(static_cast<size_t>(n));
  for (auto& t : tokens) t = any(rng);
  if (bos >= 0) tokens[0] = bos;
  return tokens;
}

// A fresh engine (fresh backend) on a fresh store connection; one request of max_tokens 1.
PhaseResult run_phase(const BenchRestoreOptions& o, const std::filesystem::path& db, const std::vector<TokenId>& prompt,
                      bool clear_first) {
  SqliteKvStoreOptions so;
  // Room for the whole prompt in one group (the defaults cap a group at 512 MiB).
  so.max_total_bytes = int64_t{64} << 30;
  so.max_group_bytes = int64_t{64} << 30;
  SqliteKvStore store(db, so);
  if (clear_first) store.clear();
  TimedKvStore timed(store);
  EngineOptions eo;
  eo.backend = o.model.backend;
  if (eo.backend.context_size == 0) eo.backend.context_size = o.prompt_tokens + 16;
  eo.max_running = 1;
  eo.max_queue = 1;
  eo.token_budget = 512;
  eo.prefill_chunk = 512;
  eo.kv_store = &timed;
  std::shared_ptr<TimedBackend::Times> times;
  eo.backend_factory = [&times](const LoadedModel& model, const BackendOptions& options) {
    BackendChoice choice = create_backend(model, options);
    auto wrapped = std::make_unique<TimedBackend>(std::move(choice.backend));
    times = wrapped->times();
    choice.backend = std::move(wrapped);
    return choice;
  };
  Engine engine(eo);
  const auto t0 = Clock::now();
  load_engine_model(engine, o.model.model_path);
  PhaseResult r;
  r.load_model_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  r.device = engine.stats().device;

  Request request;
  request.prompt_tokens = prompt;
  request.max_tokens = 1;
  request.ignore_eos = true;
  request.sampling.temperature = 0;
  request.cache_group = "bench-restore";
  std::promise<RequestEvent> finished;
  auto done = finished.get_future();
  engine.submit(std::move(request), [&finished](const RequestEvent& e) {
    if (e.kind == RequestEvent::Kind::kFinished) finished.set_value(e);
  });
  if (times) *times = {};  // the request's share only
  r.finish = done.get();
  if (times) {
    r.forward_ms = times->forward_ms;
    r.kv_write_ms = times->kv_write_ms;
  }
  if (r.finish.finish_reason == "error") throw Error("the request failed: " + r.finish.error);
  r.store_load_ms = timed.load_ms;
  r.store_contains_ms = timed.contains_ms;
  r.store_save_ms = timed.save_ms;
  r.loaded_bytes = timed.loaded_bytes;
  r.saved_bytes = timed.saved_bytes;
  return r;
}

double gb_per_s(int64_t bytes, double ms) { return ms > 0 ? static_cast<double>(bytes) / (ms * 1e6) : 0.0; }

int run_bench_restore(const BenchRestoreOptions& o) {
  if (o.phase != "both" && o.db_path.empty()) throw Error("--phase " + o.phase + " needs --db PATH");
  std::filesystem::path db = o.db_path;
  std::filesystem::path temp_dir;
  if (db.empty()) {
    temp_dir = std::filesystem::temp_directory_path() / ("hearth-bench-restore-" + std::to_string(::getpid()));
    std::filesystem::create_directories(temp_dir);
    db = temp_dir / "kv-cache.db";
  }
  const auto prompt = make_prompt(o.model.model_path, o.prompt_tokens, o.seed);

  nlohmann::json j = {{"prompt_tokens", o.prompt_tokens}, {"phase", o.phase}, {"db", db.string()}};
  double cold_ms = o.cold_ttft_ms;
  if (o.phase == "both" || o.phase == "cold") {
    const PhaseResult cold = run_phase(o, db, prompt, /*clear_first=*/true);
    cold_ms = cold.finish.timings.time_to_first_token_ms;
    j["cold_ttft_ms"] = cold_ms;
    j["cold_prefilled_tokens"] = cold.finish.usage.prefilled_tokens;
    j["cold_forward_ms"] = cold.forward_ms;
    j["saved_bytes"] = cold.saved_bytes;
    j["save_ms"] = cold.store_save_ms;
    j["device"] = cold.device;
    spdlog::info("cold: first token {:.1f} ms, {} tokens prefilled; saved {} MiB in {:.1f} ms", cold_ms,
                 cold.finish.usage.prefilled_tokens, cold.saved_bytes >> 20, cold.store_save_ms);
  }
  if (o.phase == "both" || o.phase == "restored") {
    const PhaseResult warm = run_phase(o, db, prompt, /*clear_first=*/false);
    const double ms = warm.finish.timings.time_to_first_token_ms;
    j["restored_ttft_ms"] = ms;
    j["restored_tokens"] = warm.finish.usage.restored_tokens;
    j["restored_prefilled_tokens"] = warm.finish.usage.prefilled_tokens;
    j["restored_bytes"] = warm.loaded_bytes;
    j["store_load_ms"] = warm.store_load_ms;
    j["store_contains_ms"] = warm.store_contains_ms;
    j["kv_write_ms"] = warm.kv_write_ms;         // the restored blocks into the backend's pool
    j["restored_forward_ms"] = warm.forward_ms;  // the uncomputed rest of the prompt (>= 1 token)
    // End to end (bytes over the whole restored time to first token) and the store alone
    // (read + verify + decompress, without the copy into the backend and the last token).
    j["restore_gb_per_s"] = gb_per_s(warm.loaded_bytes, ms);
    j["store_read_gb_per_s"] = gb_per_s(warm.loaded_bytes, warm.store_load_ms);
    j["device"] = warm.device;
    if (cold_ms > 0) {
      j["cold_ttft_ms"] = cold_ms;
      j["ratio"] = ms / cold_ms;
    }
    spdlog::info("restored: first token {:.1f} ms, {} tokens restored ({} MiB, store {:.1f} ms)", ms,
                 warm.finish.usage.restored_tokens, warm.loaded_bytes >> 20, warm.store_load_ms);
  }
  if (!temp_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(temp_dir, ec);
  }
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace

CommandFn add_bench_restore_command(CLI::App& app) {
  auto o = std::make_shared<BenchRestoreOptions>();
  auto* cmd = app.add_subcommand(
      "bench-restore", "Time to first token of a long prompt: cold vs restored from the SQLite KV cache (JSON)");
  o->model.add_to(*cmd);
  cmd->add_option("--db", o->db_path, "KV cache file (default: a temporary one); --phase cold empties it first");
  cmd->add_option("--prompt-tokens", o->prompt_tokens, "length of the system prompt")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 20))->capture_default_str();
  cmd->add_option("--phase", o->phase, "both (one process), cold or restored (run as two processes)")
      ->check(CLI::IsMember({"both", "cold", "restored"}))->capture_default_str();
  cmd->add_option("--cold-ttft-ms", o->cold_ttft_ms, "with --phase restored: the cold run's cold_ttft_ms, for the ratio")
      ->check(CLI::Range(0.0, 1e9));
  cmd->add_option("--seed", o->seed, "prompt tokens seed (the same in both phases)")->capture_default_str();
  return [o] { return run_bench_restore(*o); };
}

}  // namespace hearth::cli
