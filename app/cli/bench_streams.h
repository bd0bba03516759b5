#pragma once
// hearth-cli bench --streams N: concurrent streams through the Engine (in-flight batching,
// paged KV, prefix cache). Prints aggregate decode tokens/s, p50/p99 inter-token latency,
// time to first token (cold, and warm when a shared prefix is already cached) and KV waste.
#include <cstdint>
#include <string>

#include "app/cli/model_options.h"

namespace hearth {
class Engine;
}

namespace hearth::cli {

struct StreamBenchOptions {
  int64_t streams = 0;         // 0: not a stream benchmark
  int64_t prompt_tokens = 512;
  int64_t gen_tokens = 128;
  int64_t shared_prefix = 0;   // leading prompt tokens every stream shares
  // Speculative decoding (--spec ngram|draft|auto): the same streams with and without it on a
  // rewrite workload (the prompt holds a passage and asks for it again), decode tokens/s of both,
  // acceptance rate and mean accepted length. prompt_tokens and shared_prefix do not apply.
  std::string spec = "off";
  std::string draft_path;      // --draft MODEL
  int32_t max_draft = 8;
  int64_t spec_repeats = 1;    // [spec5] --spec-repeats: plain/speculative run pairs (medians reported)
  bool whole_logits = false;   // [host5] --whole-logits: EngineOptions::reduce_logits off (to compare)
};

int run_stream_bench(const ModelOptions& model, const StreamBenchOptions& options, bool json);

// Loads a model into the engine and waits; throws hearth::Error with the engine's message on
// failure. Shared with `batch`.
void load_engine_model(Engine& engine, const std::string& path);

}  // namespace hearth::cli
