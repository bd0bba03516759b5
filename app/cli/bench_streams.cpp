#include "app/cli/bench_streams.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <mutex>
#include <random>
#include <vector>

#include "core/common/error.h"
#include "core/engine/engine.h"
#include "core/model/loaded_model.h"

namespace hearth::cli {

namespace {

using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<size_t>(std::min<double>(static_cast<double>(v.size() - 1), p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

struct StreamRecord {
  std::vector<Clock::time_point> token_times;  // one per generated token (a delta's tokens share its time)
  RequestEvent finish;
  bool done = false;
};

// Runs the requests concurrently; returns per-stream records and the wall time.
std::vector<StreamRecord> run_streams(Engine& engine, const std::vector<Request>& requests, double& wall_s) {
  std::mutex m;
  std::condition_variable cv;
  std::vector<StreamRecord> records(requests.size());
  size_t finished = 0;
  const auto t0 = Clock::now();
  for (size_t i = 0; i < requests.size(); ++i) {
    engine.submit(requests[i], [&, i](const RequestEvent& e) {
      std::lock_guard lock(m);
      if (e.kind == RequestEvent::Kind::kDelta) {
        records[i].token_times.insert(records[i].token_times.end(), e.tokens.size(), Clock::now());
      } else if (e.kind == RequestEvent::Kind::kFinished) {
        records[i].finish = e;
        records[i].done = true;
        ++finished;
        cv.notify_all();
      }
    });
  }
  std::unique_lock lock(m);
  cv.wait(lock, [&] { return finished == requests.size(); });
  wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  return records;
}

}  // namespace

void load_engine_model(Engine& engine, const std::string& path) {
  std::promise<ModelEvent> done;
  auto future = done.get_future();
  engine.load_model(path, [&done](const ModelEvent& e) {
    if (e.kind == ModelEvent::Kind::kLoaded || e.kind == ModelEvent::Kind::kFailed) done.set_value(e);
  });
  const ModelEvent e = future.get();
  if (e.kind == ModelEvent::Kind::kFailed) throw Error(e.message);
}

int run_stream_bench(const ModelOptions& model, const StreamBenchOptions& o, bool json) {
  if (o.streams < 1 || o.prompt_tokens < 1 || o.gen_tokens < 1) throw Error("--streams, --prompt-tokens and --gen-tokens must be at least 1");
  if (o.shared_prefix < 0 || o.shared_prefix > o.prompt_tokens) throw Error("--shared-prefix must be between 0 and --prompt-tokens");
  EngineOptions eo;
  eo.backend = model.backend;
  if (eo.backend.context_size == 0) eo.backend.context_size = o.prompt_tokens + o.gen_tokens;
  eo.max_running = o.streams;
  eo.max_queue = o.streams + 1;
  eo.token_budget = std::max<int64_t>(512, o.streams);
  eo.prefill_chunk = 512;
  Engine engine(eo);
  load_engine_model(engine, model.model_path);
  const EngineStats loaded = engine.stats();

  // Prompts of random ordinary tokens (ids 3..n_vocab-1 of the tokenizer); the first
  // shared_prefix tokens are the same in every stream.
  auto lm = LoadedModel::open(model.model_path);
  const int32_t n_vocab = lm->tokenizer().vocab_size();
  const TokenId bos = lm->tokenizer().bos();
  lm.reset();
  std::mt19937_64 rng(1234);
  std::uniform_int_distribution<TokenId> any(3, std::max<TokenId>(3, n_vocab - 1));
  std::vector<TokenId> shared(static_cast<size_t>(o.shared_prefix));
  for (auto& t : shared) t = any(rng);
  if (!shared.empty() && bos >= 0) shared[0] = bos;
  auto make_request = [&](int64_t gen) {
    Request r;
    r.prompt_tokens = shared;
    while (static_cast<int64_t>(r.prompt_tokens.size()) < o.prompt_tokens) r.prompt_tokens.push_back(any(rng));
    r.max_tokens = gen;
    r.ignore_eos = true;
    r.sampling.temperature = 0;
    return r;
  };

  // Cold: one request with nothing cached. With a shared prefix it also warms the cache.
  double wall = 0;
  const auto cold = run_streams(engine, {make_request(1)}, wall);
  const double cold_ttft = cold[0].finish.timings.time_to_first_token_ms;
  // Warm: one more single request; its shared prefix now comes from the prefix cache.
  double warm_ttft = 0;
  if (o.shared_prefix > 0) warm_ttft = run_streams(engine, {make_request(1)}, wall)[0].finish.timings.time_to_first_token_ms;

  std::vector<Request> requests;
  for (int64_t i = 0; i < o.streams; ++i) requests.push_back(make_request(o.gen_tokens));
  const auto records = run_streams(engine, requests, wall);

  std::vector<double> gaps, ttfts;
  int64_t generated = 0, decode_tokens = 0, cached = 0;
  Clock::time_point first_token = Clock::time_point::max(), last_token{};
  for (const auto& r : records) {
    if (r.finish.finish_reason != "length") throw Error("a stream finished with " + r.finish.finish_reason + ": " + r.finish.error);
    generated += r.finish.usage.completion_tokens;
    cached += r.finish.usage.cached_tokens;
    ttfts.push_back(r.finish.timings.time_to_first_token_ms);
    for (size_t k = 1; k < r.token_times.size(); ++k) {
      gaps.push_back(std::chrono::duration<double, std::milli>(r.token_times[k] - r.token_times[k - 1]).count());
    }
    if (!r.token_times.empty()) {
      first_token = std::min(first_token, r.token_times.front());
      last_token = std::max(last_token, r.token_times.back());
      decode_tokens += static_cast<int64_t>(r.token_times.size()) - 1;
    }
  }
  const double decode_s = last_token > first_token ? std::chrono::duration<double>(last_token - first_token).count() : 0;
  // KV waste: allocated but unused token slots at the end of generation, with the shared
  // prefix's full blocks stored once (what the block tables hold).
  const int64_t bt = model.backend.kv_block_tokens > 0 ? model.backend.kv_block_tokens : 16;
  const int64_t seq_tokens = o.prompt_tokens + o.gen_tokens - 1;  // the last token is never computed
  const int64_t shared_blocks = o.shared_prefix / bt;
  const int64_t blocks = shared_blocks + o.streams * ((seq_tokens + bt - 1) / bt - shared_blocks);
  const int64_t stored = shared_blocks * bt + o.streams * (seq_tokens - shared_blocks * bt);
  const double waste = blocks > 0 ? 100.0 * (1.0 - static_cast<double>(stored) / static_cast<double>(blocks * bt)) : 0;

  nlohmann::json j = {
      {"model", model.model_path},
      {"device", loaded.device},
      {"streams", o.streams},
      {"prompt_tokens", o.prompt_tokens},
      {"gen_tokens", o.gen_tokens},
      {"shared_prefix", o.shared_prefix},
      {"wall_seconds", wall},
      {"aggregate_tokens_per_second", wall > 0 ? static_cast<double>(generated) / wall : 0.0},
      {"aggregate_decode_tokens_per_second", decode_s > 0 ? static_cast<double>(decode_tokens) / decode_s : 0.0},
      {"inter_token_latency_ms_p50", percentile(gaps, 0.5)},
      {"inter_token_latency_ms_p99", percentile(gaps, 0.99)},
      {"ttft_ms_cold", cold_ttft},
      {"ttft_ms_warm", warm_ttft},
      {"ttft_ms_p50", percentile(ttfts, 0.5)},
      {"ttft_ms_max", percentile(ttfts, 1.0)},
      {"prefix_cached_tokens", cached},
      {"kv_blocks_total", loaded.kv_blocks_total},
      {"kv_waste_percent", waste},
  };
  if (json) {
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("device        %s\n", loaded.device.c_str());
  std::printf("streams       %lld x (%lld prompt + %lld generated), shared prefix %lld\n", static_cast<long long>(o.streams),
              static_cast<long long>(o.prompt_tokens), static_cast<long long>(o.gen_tokens), static_cast<long long>(o.shared_prefix));
  std::printf("decode        %10.2f tokens/s aggregate (%.2f incl. prefill, %.2f s wall)\n",
              j["aggregate_decode_tokens_per_second"].get<double>(), j["aggregate_tokens_per_second"].get<double>(), wall);
  std::printf("inter-token   p50 %.2f ms, p99 %.2f ms\n", percentile(gaps, 0.5), percentile(gaps, 0.99));
  std::printf("first token   cold %.2f ms; streams p50 %.2f ms, max %.2f ms (%lld prompt tokens from the cache)\n", cold_ttft,
              percentile(ttfts, 0.5), percentile(ttfts, 1.0), static_cast<long long>(cached));
  if (o.shared_prefix > 0) {
    std::printf("warm prefix   single request TTFT %.2f ms = %.1f%% of cold\n", warm_ttft,
                cold_ttft > 0 ? 100.0 * warm_ttft / cold_ttft : 0.0);
  }
  std::printf("KV waste      %.2f%% of allocated token slots (blocks of %lld)\n", waste, static_cast<long long>(bt));
  return 0;
}

}  // namespace hearth::cli
