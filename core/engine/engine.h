#pragma once
// The Engine: one thread that owns the model, the backend and the KV memory, and serves every
// front end (GUI, HTTP server, CLI) through submit / cancel and per-request event sinks.
// DESIGN.md: each step the scheduler lets every sequence's computed tokens catch up to its known
// tokens within a token budget (chunked prefill, in-flight batching, speculative tokens).
//
// Threading: submit(), cancel(), stats() and the model calls may be called from any thread and
// never block on a forward pass. Sinks are called on the engine thread; they must be quick
// (queue the event and return) and must not call back into the Engine synchronously.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/backend/backend_factory.h"
#include "core/common/error.h"
#include "core/engine/token_constraint.h"
#include "core/sampling/sampler.h"
#include "core/tokenizer/chat_template/chat_template.h"

namespace hearth {

class KvStore;

enum class Priority { kInteractive, kBackground };
enum class ContextOverflow { kError, kTruncateMiddle };
// Speculative decoding (issue 6): draft tokens are proposed by n-gram lookup over the sequence's
// own tokens or by a draft model, and verified by the target in one batched pass; the output
// distribution is exactly the target's (greedy: identical tokens). kAuto speculates only where the
// measured step times say it pays (per stream and batch size), with the draft model when one is
// loaded, else n-gram lookup. Requests with a constraint never speculate.
enum class SpecMode { kOff, kNgram, kDraft, kAuto };
// "off", "ngram", "draft", "auto"; nullopt otherwise.
std::optional<SpecMode> parse_spec_mode(std::string_view text);
std::string_view spec_mode_name(SpecMode mode);

struct Request {
  // Either prompt tokens, or text, or chat messages (rendered with the model's chat template,
  // falling back to the architecture's built-in template).
  std::vector<TokenId> prompt_tokens;
  std::string prompt_text;               // plain text; BOS added as the model wants
  std::vector<ChatMessage> messages;     // used when non-empty
  std::vector<std::pair<std::string, chat_template::Value>> template_extra;  // tools, ...
  bool add_generation_prompt = true;

  SamplingParams sampling;
  int64_t max_tokens = 256;              // generated tokens at most
  std::vector<std::string> stop_strings; // text is cut before the first match
  std::vector<TokenId> stop_tokens;      // besides the model's end-of-generation tokens
  bool ignore_eos = false;
  Priority priority = Priority::kInteractive;
  ContextOverflow overflow = ContextOverflow::kError;
  int32_t top_logprobs = -1;             // >= 0: report the chosen token's logprob and this many alternatives
  std::string cache_group;               // persistent prefix cache group (conversation id), optional
  TokenConstraintFactory constraint;     // optional: masks what may be generated (JSON mode, tools)
  SpecMode spec = SpecMode::kOff;        // speculative decoding (kDraft needs EngineOptions::draft_model_path)
  int32_t spec_max_draft = 8;            // draft tokens per step at most (the length adapts below it)
};

struct TokenLogprob {
  TokenId token = -1;
  std::string text;
  float logprob = 0;
  std::vector<std::pair<TokenId, float>> top;  // alternatives, best first
};

struct RequestTimings {
  double queue_ms = 0;                 // submit -> first scheduled
  double time_to_first_token_ms = 0;   // submit -> first generated token
  double prompt_ms = 0;
  double decode_ms = 0;
  double decode_tokens_per_second = 0;
  // [host5] Device energy attributed to this request, joules (issue 9): the backend's counter
  // (NVML on CUDA) read every ~75 ms of work, each interval shared among the requests that computed
  // tokens in it in proportion to their tokens. 0: not measured (no counter, e.g. the CPU).
  double energy_joules = 0;
};

struct RequestUsage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;           // prompt tokens reused from the prefix cache (memory)
  int64_t restored_tokens = 0;         // prompt tokens restored from the KvStore (disk)
  int64_t prefilled_tokens = 0;        // prompt tokens actually computed
  int64_t truncated_tokens = 0;        // dropped by ContextOverflow::kTruncateMiddle
  int64_t dropped_messages = 0;        // of those, whole chat messages: messages[1 .. this] (prompt_builder.h)
  // Speculative decoding: draft tokens verified by the target, how many were accepted, and the
  // verify steps they took. acceptance rate = accepted / drafted; mean accepted length =
  // accepted / verify_steps (each verify step also emits one token of the target's own).
  int64_t drafted_tokens = 0;
  int64_t accepted_tokens = 0;
  int64_t verify_steps = 0;
};

// finish_reason: "stop" (end-of-generation token or stop string), "length" (max_tokens),
// "context" (context full), "cancelled", "error".
struct RequestEvent {
  enum class Kind { kStarted, kDelta, kFinished } kind = Kind::kDelta;
  uint64_t request_id = 0;
  std::string text;                    // kDelta: whole UTF-8 characters only
  std::vector<TokenId> tokens;         // kDelta: the tokens this text came from
  std::vector<TokenLogprob> logprobs;  // kDelta, when requested
  std::string finish_reason;           // kFinished
  std::string error;                   // kFinished with "error"
  RequestUsage usage;                  // kFinished (kStarted: prompt_tokens)
  RequestTimings timings;              // kFinished
};

using RequestSink = std::function<void(const RequestEvent&)>;

struct EngineStats {
  int64_t queued = 0, running = 0;
  int64_t kv_blocks_total = 0, kv_blocks_used = 0, kv_blocks_cached = 0, kv_blocks_free = 0;
  double prefix_hit_rate = 0;          // prompt tokens served from cache / prompt tokens
  uint64_t requests_finished = 0, tokens_generated = 0;
  uint64_t preemptions = 0;            // sequences sent back to recompute because the KV pool was full
  uint64_t drafted_tokens = 0, accepted_tokens = 0;  // speculative decoding, all requests
  // Engine steps (each one forward_batch) and their time: the whole step (scheduling, drafting,
  // the forward pass, sampling, verification, events) and the forward pass alone; the rest is
  // the engine's host overhead.
  uint64_t steps = 0;
  double step_seconds = 0, forward_seconds = 0;
  double before_forward_seconds = 0;   // [host5] of the host part: scheduling and drafting (the rest is after the pass)
  std::string draft_model_path;        // loaded draft model, empty when none
  int64_t draft_kv_blocks_total = 0, draft_kv_blocks_used = 0;  // the draft model's own KV pool
  std::string model_path, device;
};

struct ModelEvent {
  enum class Kind { kProgress, kLoaded, kUnloaded, kFailed } kind = Kind::kProgress;
  double progress = 0;                 // 0..1
  std::string message;                 // device choice reason, or the error
};
using ModelSink = std::function<void(const ModelEvent&)>;

struct EngineOptions {
  BackendOptions backend;
  int64_t max_queue = 64;              // past this, submit() throws QueueFullError
  int64_t max_running = 8;             // sequences in flight
  int64_t token_budget = 512;          // tokens per step (decode first, then prefill chunks)
  int64_t prefill_chunk = 256;         // prompt tokens per sequence per step (<= token_budget)
  int64_t kv_blocks = 0;               // 0: sized from the context and max_running
  // An idle engine that receives a request waits this long for more (up to 4 times it while they
  // keep coming), so a burst of requests submitted together prefills in one step. 0: no wait.
  std::chrono::microseconds admit_window{150};
  KvStore* kv_store = nullptr;         // persistent prefix cache, optional
  // Builds the backend for a loaded model; empty: create_backend(). Tests pass a fake here.
  std::function<BackendChoice(const LoadedModel&, const BackendOptions&)> backend_factory;
  // Speculative decoding: a draft model (same vocabulary as every target loaded) loaded beside
  // the target by load_model(), with its own backend and KV pool; empty: n-gram drafts only.
  // draft_backend_factory builds its backend (empty: backend_factory, else create_backend()).
  std::string draft_model_path;
  std::function<BackendChoice(const LoadedModel&, const BackendOptions&)> draft_backend_factory;
  // Seconds of a monotonic clock for timing decode steps (speculation's cost model); empty:
  // std::chrono::steady_clock. Tests pass a fake clock that a fake backend advances.
  std::function<double()> step_clock;
  // [host5] Rows whose sampler needs only their best entries (greedy, top-k without penalties)
  // come from the backend reduced (Backend::forward_batch_select: on CUDA the whole rows never
  // leave the device). false: whole rows always (for measurements).
  bool reduce_logits = true;
};

class QueueFullError : public Error {
 public:
  using Error::Error;
};

class Engine {
 public:
  explicit Engine(EngineOptions options);
  ~Engine();  // cancels everything, joins the thread
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Model lifecycle, on the engine thread; events go to `sink`. Requests in flight when a model
  // is unloaded or switched finish with "cancelled".
  void load_model(const std::string& path, ModelSink sink);
  void unload_model(ModelSink sink);

  // Returns the request id. Throws QueueFullError when the queue is at capacity, Error for a
  // request that can never run (no model, prompt longer than the context under kError: the
  // message gives both numbers).
  uint64_t submit(Request request, RequestSink sink);
  // At any moment; the request's KV blocks are released within one step; its sink gets
  // kFinished "cancelled" (unless it already finished).
  void cancel(uint64_t request_id);

  EngineStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth
