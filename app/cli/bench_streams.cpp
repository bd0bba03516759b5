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
  std::vector<TokenId> tokens;
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
        records[i].tokens.insert(records[i].tokens.end(), e.tokens.begin(), e.tokens.end());
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

// Aggregate decode rate: tokens after each stream's first, over the span from the earliest first
// token to the latest last token.
double decode_tokens_per_second(const std::vector<StreamRecord>& records) {
  int64_t decode_tokens = 0;
  Clock::time_point first_token = Clock::time_point::max(), last_token{};
  for (const auto& r : records) {
    if (r.token_times.empty()) continue;
    first_token = std::min(first_token, r.token_times.front());
    last_token = std::max(last_token, r.token_times.back());
    decode_tokens += static_cast<int64_t>(r.token_times.size()) - 1;
  }
  const double s = last_token > first_token ? std::chrono::duration<double>(last_token - first_token).count() : 0;
  return s > 0 ? static_cast<double>(decode_tokens) / s : 0.0;
}

// The rewrite workload's passage (plain English, so a real model's tokenizer makes ordinary tokens).
constexpr const char* kPassageSentences[] = {
    "The old lighthouse stood at the edge of the cliff, its white paint peeling in long strips.",
    "Every evening the keeper climbed the narrow stairs and lit the great lamp by hand.",
    "Ships passing in the night would see the beam sweep across the water and know where the rocks were.",
    "One winter a storm broke the glass at the top, and the keeper worked until dawn to cover it with boards.",
    "The village below sent bread and soup up the hill, and children came to watch the repairs.",
    "By spring the lamp was burning again, brighter than before, and the keeper painted the tower white.",
};

// Stream i's prompt: the passage with its sentences rotated by i, asked to be written again.
std::string rewrite_prompt(int64_t i) {
  const auto n = static_cast<int64_t>(std::size(kPassageSentences));
  std::string passage;
  for (int64_t k = 0; k < n; ++k) {
    if (!passage.empty()) passage += ' ';
    passage += kPassageSentences[(i + k) % n];
  }
  return "Rewrite the following passage, keeping every sentence.\n\nPassage: " + passage +
         "\n\nRewritten passage: " + kPassageSentences[i % n];
}

int run_spec_bench(const ModelOptions& model, const StreamBenchOptions& o, bool json) {
  const auto mode = parse_spec_mode(o.spec);
  if (!mode || *mode == SpecMode::kOff) throw Error("--spec must be ngram, draft or auto");
  if (*mode == SpecMode::kDraft && o.draft_path.empty()) throw Error("--spec draft needs --draft MODEL");
  EngineOptions eo;
  eo.backend = model.backend;
  eo.max_running = o.streams;
  eo.max_queue = o.streams + 1;
  eo.token_budget = std::max<int64_t>(512, o.streams * (o.max_draft + 1));
  eo.prefill_chunk = 512;
  eo.draft_model_path = o.draft_path;
  Engine engine(eo);
  load_engine_model(engine, model.model_path);
  const EngineStats loaded = engine.stats();

  std::vector<std::vector<TokenId>> prompts;
  {
    auto lm = LoadedModel::open(model.model_path);
    const Tokenizer& tok = lm->tokenizer();
    for (int64_t i = 0; i < o.streams; ++i) prompts.push_back(tok.encode(rewrite_prompt(i), tok.add_bos_by_default(), false));
  }
  auto requests = [&](SpecMode spec, int64_t gen) {
    std::vector<Request> out;
    for (const auto& p : prompts) {
      Request r;
      r.prompt_tokens = p;
      r.max_tokens = gen;
      r.ignore_eos = true;
      r.sampling.temperature = 0;
      r.spec = spec;
      r.spec_max_draft = o.max_draft;
      out.push_back(std::move(r));
    }
    return out;
  };
  // [spec5] Warm-up: a short plain run (the prompts land in the prefix cache, the plain decode
  // shapes are launched once), then one whole speculative run, reported apart as the cold run:
  // the first launch of every verify shape (a CUDA graph capture) is a one-off per process that
  // plain decode paid in its own warm-up. Then `spec_repeats` pairs of plain and speculative runs,
  // alternating; the medians are reported (a demanding reading of "never slower").
  double wall = 0;
  run_streams(engine, requests(SpecMode::kOff, 2), wall);
  const auto cold = run_streams(engine, requests(*mode, o.gen_tokens), wall);
  const double cold_rate = decode_tokens_per_second(cold);
  std::vector<double> plain_rates, spec_rates, speedups;
  std::vector<StreamRecord> plain, spec;
  double plain_wall = 0, spec_wall = 0;
  EngineStats before, after;
  int64_t drafted = 0, accepted = 0, verify_steps = 0, prompt_tokens = 0;
  bool same_tokens = true;
  for (int64_t rep = 0; rep < std::max<int64_t>(1, o.spec_repeats); ++rep) {
    plain = run_streams(engine, requests(SpecMode::kOff, o.gen_tokens), wall);
    plain_wall = wall;
    before = engine.stats();
    spec = run_streams(engine, requests(*mode, o.gen_tokens), wall);
    spec_wall = wall;
    after = engine.stats();
    for (size_t i = 0; i < spec.size(); ++i) {
      for (const auto* r : {&plain[i], &spec[i]}) {
        if (r->finish.finish_reason != "length") throw Error("a stream finished with " + r->finish.finish_reason + ": " + r->finish.error);
      }
      drafted += spec[i].finish.usage.drafted_tokens;
      accepted += spec[i].finish.usage.accepted_tokens;
      verify_steps += spec[i].finish.usage.verify_steps;
      prompt_tokens += rep == 0 ? spec[i].finish.usage.prompt_tokens : 0;
      same_tokens = same_tokens && spec[i].tokens == plain[i].tokens && cold[i].tokens == plain[i].tokens;  // greedy: lossless
    }
    plain_rates.push_back(decode_tokens_per_second(plain));
    spec_rates.push_back(decode_tokens_per_second(spec));
    speedups.push_back(plain_rates.back() > 0 ? spec_rates.back() / plain_rates.back() : 0.0);
  }
  const auto spec_steps = static_cast<double>(after.steps - before.steps);
  const double host_ms_per_step =
      spec_steps > 0
          ? 1e3 * ((after.step_seconds - before.step_seconds) - (after.forward_seconds - before.forward_seconds)) / spec_steps
          : 0;
  const double plain_rate = percentile(plain_rates, 0.5), spec_rate = percentile(spec_rates, 0.5);
  const double median_speedup = percentile(speedups, 0.5);
  nlohmann::json j = {
      {"model", model.model_path},
      {"draft_model", o.draft_path},
      {"device", loaded.device},
      {"spec", o.spec},
      {"streams", o.streams},
      {"prompt_tokens_per_stream", prompt_tokens / std::max<int64_t>(1, o.streams)},
      {"gen_tokens", o.gen_tokens},
      {"max_draft", o.max_draft},
      {"plain_decode_tokens_per_second", plain_rate},
      {"spec_decode_tokens_per_second", spec_rate},
      {"speedup", median_speedup},  // [spec5] median of the per-repeat ratios
      {"spec_repeats", static_cast<int64_t>(speedups.size())},
      {"plain_decode_tokens_per_second_runs", plain_rates},
      {"spec_decode_tokens_per_second_runs", spec_rates},
      {"speedup_runs", speedups},
      {"spec_cold_decode_tokens_per_second", cold_rate},
      {"cold_speedup", plain_rate > 0 ? cold_rate / plain_rate : 0.0},
      {"plain_wall_seconds", plain_wall},
      {"spec_wall_seconds", spec_wall},
      {"drafted_tokens", drafted},
      {"accepted_tokens", accepted},
      {"verify_steps", verify_steps},
      {"acceptance_rate", drafted > 0 ? static_cast<double>(accepted) / static_cast<double>(drafted) : 0.0},
      {"outputs_identical", same_tokens},
      {"mean_accepted_length", verify_steps > 0 ? static_cast<double>(accepted) / static_cast<double>(verify_steps) : 0.0},
      {"spec_engine_steps", after.steps - before.steps},
      {"spec_engine_host_ms_per_step", host_ms_per_step},
  };
  if (json) {
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("device        %s\n", loaded.device.c_str());
  std::printf("workload      %lld streams x rewrite (%lld prompt tokens) + %lld generated, greedy; spec %s, draft %s\n",
              static_cast<long long>(o.streams), static_cast<long long>(j["prompt_tokens_per_stream"].get<int64_t>()),
              static_cast<long long>(o.gen_tokens), o.spec.c_str(), o.draft_path.empty() ? "-" : o.draft_path.c_str());
  std::printf("plain         %10.2f decode tokens/s aggregate\n", plain_rate);
  std::printf("speculative   %10.2f decode tokens/s aggregate (x%.2f, median of %zu; first run x%.2f)\n", spec_rate,
              j["speedup"].get<double>(), speedups.size(), j["cold_speedup"].get<double>());
  std::printf("acceptance    %.1f%% of %lld drafted; mean accepted length %.2f per verify step (%lld steps)\n",
              100.0 * j["acceptance_rate"].get<double>(), static_cast<long long>(drafted), j["mean_accepted_length"].get<double>(),
              static_cast<long long>(verify_steps));
  std::printf("outputs       %s\n", same_tokens ? "identical with and without speculation (greedy)"
                                                 : "DIFFER between the runs (greedy speculation must be lossless)");
  return 0;
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
  if (o.spec != "off") {
    if (o.streams < 1 || o.gen_tokens < 1) throw Error("--streams and --gen-tokens must be at least 1");
    return run_spec_bench(model, o, json);
  }
  if (o.streams < 1 || o.prompt_tokens < 1 || o.gen_tokens < 1) throw Error("--streams, --prompt-tokens and --gen-tokens must be at least 1");
  if (o.shared_prefix < 0 || o.shared_prefix > o.prompt_tokens) throw Error("--shared-prefix must be between 0 and --prompt-tokens");
  EngineOptions eo;
  eo.backend = model.backend;
  if (eo.backend.context_size == 0) eo.backend.context_size = o.prompt_tokens + o.gen_tokens;
  eo.max_running = o.streams;
  eo.max_queue = o.streams + 1;
  eo.token_budget = std::max<int64_t>(512, o.streams);
  eo.prefill_chunk = 512;
  eo.reduce_logits = !o.whole_logits;  // [host5]
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
  // Warm: single requests whose shared prefix now comes from the prefix cache. Three of them:
  // the first also pays for anything done once per new batch shape (its suffix length is new),
  // the median is the steady state.
  double warm_ttft = 0;
  std::vector<double> warm_runs;
  RequestTimings warm_timings;
  for (int k = 0; o.shared_prefix > 0 && k < 3; ++k) {
    const RequestTimings t = run_streams(engine, {make_request(1)}, wall)[0].finish.timings;
    warm_runs.push_back(t.time_to_first_token_ms);
    if (k == 1) warm_timings = t;
  }
  if (!warm_runs.empty()) warm_ttft = percentile(warm_runs, 0.5);

  std::vector<Request> requests;
  for (int64_t i = 0; i < o.streams; ++i) requests.push_back(make_request(o.gen_tokens));
  const EngineStats before = engine.stats();
  const auto records = run_streams(engine, requests, wall);
  const EngineStats after = engine.stats();
  // The engine's host time per step (everything but the forward pass) over the streams run.
  const auto steps = static_cast<double>(after.steps - before.steps);
  const double host_ms_per_step =
      steps > 0 ? 1e3 * ((after.step_seconds - before.step_seconds) - (after.forward_seconds - before.forward_seconds)) / steps : 0;
  const double forward_ms_per_step = steps > 0 ? 1e3 * (after.forward_seconds - before.forward_seconds) / steps : 0;
  const double host_before_ms_per_step =  // [host5] scheduling + drafting; the rest of host is after the pass
      steps > 0 ? 1e3 * (after.before_forward_seconds - before.before_forward_seconds) / steps : 0;

  std::vector<double> gaps, ttfts;
  int64_t generated = 0, decode_tokens = 0, cached = 0;
  double stream_joules = 0;  // [host5] the engine's per-request energy (issue 9), summed
  Clock::time_point first_token = Clock::time_point::max(), last_token{};
  for (const auto& r : records) {
    if (r.finish.finish_reason != "length") throw Error("a stream finished with " + r.finish.finish_reason + ": " + r.finish.error);
    generated += r.finish.usage.completion_tokens;
    cached += r.finish.usage.cached_tokens;
    ttfts.push_back(r.finish.timings.time_to_first_token_ms);
    stream_joules += r.finish.timings.energy_joules;
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
  // [host5] Steady state: the window in which every stream decodes (from the last stream's first
  // token to the first stream's last), without the ramp while later prompts still prefill.
  Clock::time_point all_started{}, first_done = Clock::time_point::max();
  for (const auto& r : records) {
    if (r.token_times.empty()) continue;
    all_started = std::max(all_started, r.token_times.front());
    first_done = std::min(first_done, r.token_times.back());
  }
  int64_t steady_tokens = 0;
  for (const auto& r : records) {
    for (const auto& t : r.token_times) steady_tokens += t > all_started && t <= first_done ? 1 : 0;
  }
  const double steady_s = first_done > all_started ? std::chrono::duration<double>(first_done - all_started).count() : 0;
  const double steady_rate = steady_s > 0 ? static_cast<double>(steady_tokens) / steady_s : 0.0;
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
      {"steady_decode_tokens_per_second", steady_rate},  // [host5]
      {"inter_token_latency_ms_p50", percentile(gaps, 0.5)},
      {"inter_token_latency_ms_p99", percentile(gaps, 0.99)},
      {"ttft_ms_cold", cold_ttft},
      {"ttft_ms_warm", warm_ttft},
      {"ttft_ms_warm_runs", warm_runs},
      {"ttft_warm_queue_ms", warm_timings.queue_ms},
      {"ttft_warm_prompt_ms", warm_timings.prompt_ms},
      {"engine_steps", after.steps - before.steps},
      {"engine_forward_ms_per_step", forward_ms_per_step},
      {"engine_host_ms_per_step", host_ms_per_step},
      {"engine_host_before_forward_ms_per_step", host_before_ms_per_step},
      {"whole_logits", o.whole_logits},
      {"ttft_ms_p50", percentile(ttfts, 0.5)},
      {"ttft_ms_max", percentile(ttfts, 1.0)},
      {"prefix_cached_tokens", cached},
      {"kv_blocks_total", loaded.kv_blocks_total},
      {"kv_waste_percent", waste},
      {"energy_joules_per_request", stream_joules / static_cast<double>(records.size())},  // [host5] 0: not measured
      {"energy_joules_per_generated_token", generated > 0 ? stream_joules / static_cast<double>(generated) : 0.0},
      {"energy_joules_cold_request", cold[0].finish.timings.energy_joules},
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
  std::printf("steady        %10.2f tokens/s while every stream decodes (%lld tokens in %.3f s)\n", steady_rate,
              static_cast<long long>(steady_tokens), steady_s);  // [host5]
  std::printf("inter-token   p50 %.2f ms, p99 %.2f ms\n", percentile(gaps, 0.5), percentile(gaps, 0.99));
  std::printf("first token   cold %.2f ms; streams p50 %.2f ms, max %.2f ms (%lld prompt tokens from the cache)\n", cold_ttft,
              percentile(ttfts, 0.5), percentile(ttfts, 1.0), static_cast<long long>(cached));
  if (o.shared_prefix > 0) {
    std::printf("warm prefix   single request TTFT %.2f ms (median of %.2f / %.2f / %.2f) = %.1f%% of cold; queue %.2f ms\n",
                warm_ttft, warm_runs[0], warm_runs[1], warm_runs[2], cold_ttft > 0 ? 100.0 * warm_ttft / cold_ttft : 0.0,
                warm_timings.queue_ms);
  }
  std::printf("engine steps  %lld: forward %.3f ms, host %.3f ms per step (%.3f before the pass, %.3f after)%s\n",
              static_cast<long long>(after.steps - before.steps), forward_ms_per_step, host_ms_per_step, host_before_ms_per_step,
              host_ms_per_step - host_before_ms_per_step, o.whole_logits ? "; whole logits rows" : "");
  std::printf("KV waste      %.2f%% of allocated token slots (blocks of %lld)\n", waste, static_cast<long long>(bt));
  if (stream_joules > 0) {  // [host5]
    std::printf("energy        %.3f J per stream (%.4f J per generated token); cold request %.3f J (engine, NVML)\n",
                j["energy_joules_per_request"].get<double>(), j["energy_joules_per_generated_token"].get<double>(),
                cold[0].finish.timings.energy_joules);
  }
  return 0;
}

}  // namespace hearth::cli
