#include "core/engine/engine.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "core/engine/model_fingerprint.h"
#include "core/engine/prompt_builder.h"
#include "core/engine/scheduler.h"
#include "core/engine/sequence.h"
#include "core/kv/kv_cache.h"
#include "core/kv/kv_store.h"
#include "core/kv/prefix_hash.h"
#include "core/model/loaded_model.h"

namespace hearth {

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// What submit() needs of the current model, shared with callers' threads (immutable once built).
struct ModelState {
  std::shared_ptr<const LoadedModel> model;
  std::shared_ptr<const PromptRenderer> renderer;
  uint64_t generation = 0;
  int64_t limit = 0;       // most positions one sequence may hold
  std::string limit_what;  // what sets it, for error messages
  int32_t n_vocab = 0;
};

struct ModelOp {
  bool load = false;  // else unload
  std::string path;
  ModelSink sink;
};

void call_sink(const RequestSink& sink, const RequestEvent& event) {
  if (!sink) return;
  try {
    sink(event);
  } catch (const std::exception& e) {
    spdlog::error("request {}: event sink threw: {}", event.request_id, e.what());
  }
}

void call_model_sink(const ModelSink& sink, ModelEvent::Kind kind, double progress, std::string message) {
  if (!sink) return;
  try {
    sink(ModelEvent{kind, progress, std::move(message)});
  } catch (const std::exception& e) {
    spdlog::error("model event sink threw: {}", e.what());
  }
}

// log-softmax of one logits row in double; the chosen token's logprob and the top n alternatives.
TokenLogprob token_logprob(std::span<const float> row, TokenId chosen, int32_t top_n, const Tokenizer& tok) {
  double max = -INFINITY;
  for (float v : row) {
    if (std::isfinite(v)) max = std::max(max, static_cast<double>(v));
  }
  double sum = 0;
  for (float v : row) {
    if (std::isfinite(v)) sum += std::exp(static_cast<double>(v) - max);
  }
  const double log_z = max + std::log(sum);
  auto lp = [&](TokenId t) {
    const float v = row[static_cast<size_t>(t)];
    return std::isfinite(v) ? static_cast<float>(v - log_z) : -INFINITY;
  };
  TokenLogprob out;
  out.token = chosen;
  out.text = tok.token_to_piece(chosen);
  out.logprob = lp(chosen);
  if (top_n > 0) {
    std::vector<TokenId> ids(row.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<TokenId>(i);
    const auto n = std::min<size_t>(static_cast<size_t>(top_n), ids.size());
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(), [&](TokenId a, TokenId b) {
      const float la = lp(a), lb = lp(b);
      return la != lb ? la > lb : a < b;
    });
    for (size_t i = 0; i < n; ++i) out.top.emplace_back(ids[i], lp(ids[i]));
  }
  return out;
}

}  // namespace

struct Engine::Impl {
  explicit Impl(EngineOptions o)
      : options(std::move(o)),
        scheduler(SchedulerOptions{std::max<int64_t>(1, options.token_budget),
                                   std::clamp<int64_t>(options.prefill_chunk, 1, std::max<int64_t>(1, options.token_budget))}) {
    if (options.max_queue < 0) throw Error("max_queue must not be negative");
    if (options.max_running < 1) throw Error("max_running must be at least 1");
    thread = std::thread([this] { loop(); });
  }

  ~Impl() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    wake.notify_all();
    thread.join();
  }

  // ---- shared with callers' threads (under mutex) ----
  EngineOptions options;
  mutable std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::deque<std::unique_ptr<Sequence>> incoming;
  std::vector<uint64_t> cancels;
  std::deque<ModelOp> model_ops;
  std::shared_ptr<const ModelState> state;
  EngineStats published_stats;
  uint64_t next_request_id = 1;

  // ---- engine thread only ----
  Scheduler scheduler;
  std::shared_ptr<const LoadedModel> model;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<KvCache> kv;
  KvFingerprint fingerprint;
  uint64_t model_generation = 0;
  std::vector<std::unique_ptr<Sequence>> owned;  // admitted: running or preempted
  std::vector<Sequence*> running;
  std::vector<Sequence*> preempted;
  std::vector<float> logits;
  int64_t prompt_tokens_seen = 0, prompt_tokens_reused = 0;
  uint64_t requests_finished = 0, tokens_generated = 0, preemptions = 0;
  std::thread thread;  // last: starts after everything above exists

  // ---------------------------------------------------------------------------------------------
  void loop() {
    while (true) {
      std::vector<uint64_t> to_cancel;
      std::deque<ModelOp> ops;
      {
        std::unique_lock lock(mutex);
        wake.wait(lock, [&] {
          return stopping || !cancels.empty() || !model_ops.empty() || !running.empty() || !preempted.empty() ||
                 !incoming.empty();
        });
        if (stopping) break;
        to_cancel.swap(cancels);
        ops.swap(model_ops);
      }
      for (auto& op : ops) op.load ? do_load(op) : do_unload(op);
      for (uint64_t id : to_cancel) cancel_now(id);
      if (kv) {
        admit();
        if (!running.empty()) step();
      } else {
        drop_everything("cancelled");  // submitted just before an unload
      }
      publish_stats();
    }
    drop_everything("cancelled");
    backend.reset();
    model.reset();
  }

  // ---- model lifecycle ----
  void drop_everything(const std::string& reason) {
    while (!owned.empty()) finish(*owned.front(), reason);
    std::deque<std::unique_ptr<Sequence>> waiting;
    {
      std::lock_guard lock(mutex);
      waiting.swap(incoming);
    }
    for (auto& s : waiting) finish_unadmitted(*s, reason);
  }

  void clear_model() {
    drop_everything("cancelled");
    {
      std::lock_guard lock(mutex);
      state.reset();
      published_stats.model_path.clear();
      published_stats.device.clear();
    }
    kv.reset();
    backend.reset();  // before the model: it points into the model's weights
    model.reset();
  }

  void do_unload(const ModelOp& op) {
    clear_model();
    call_model_sink(op.sink, ModelEvent::Kind::kUnloaded, 1.0, "model unloaded");
  }

  void do_load(const ModelOp& op) {
    clear_model();
    call_model_sink(op.sink, ModelEvent::Kind::kProgress, 0.0, "opening " + op.path);
    try {
      auto loaded = std::shared_ptr<const LoadedModel>(LoadedModel::open(op.path));
      call_model_sink(op.sink, ModelEvent::Kind::kProgress, 0.4, "building the backend");
      BackendOptions bo = options.backend;
      configure_kv_pool(bo, *loaded);
      BackendChoice choice = options.backend_factory ? options.backend_factory(*loaded, bo) : create_backend(*loaded, bo);
      const KvGeometry geometry = choice.backend->kv_geometry();
      const int64_t n_blocks = choice.backend->kv_block_count();
      call_model_sink(op.sink, ModelEvent::Kind::kProgress, 0.8, "fingerprinting the weights");
      fingerprint = KvFingerprint{model_fingerprint(loaded->file()), geometry};
      kv = std::make_unique<KvCache>(n_blocks, geometry.block_tokens, fingerprint_seed(fingerprint));
      if (options.kv_store) {
        kv->pool().set_eviction_hook([this](int32_t block, const PublishedBlock& meta) { save_blocks({}, {{block, &meta}}); });
      }
      auto st = std::make_shared<ModelState>();
      st->model = loaded;
      st->renderer = std::make_shared<PromptRenderer>(*loaded);
      st->generation = ++model_generation;
      const int64_t pool_tokens = n_blocks * geometry.block_tokens;
      if (pool_tokens < choice.backend->context_size()) {
        st->limit = pool_tokens;
        st->limit_what = fmt::format("the KV pool of {} blocks of {} tokens", n_blocks, geometry.block_tokens);
      } else {
        st->limit = choice.backend->context_size();
        st->limit_what = fmt::format("the context of {} tokens", st->limit);
      }
      st->n_vocab = static_cast<int32_t>(choice.backend->n_vocab());
      model = loaded;
      backend = std::move(choice.backend);
      {
        std::lock_guard lock(mutex);
        state = st;
        published_stats.model_path = op.path;
        published_stats.device = backend->device_name();
      }
      spdlog::info("engine: {} on {} ({}); KV pool {} blocks x {} tokens", op.path, backend->device_name(), choice.reason,
                   n_blocks, geometry.block_tokens);
      call_model_sink(op.sink, ModelEvent::Kind::kLoaded, 1.0, choice.reason);
    } catch (const std::exception& e) {
      kv.reset();
      backend.reset();
      model.reset();
      call_model_sink(op.sink, ModelEvent::Kind::kFailed, 0.0, e.what());
    }
  }

  // Pool size: the engine's setting, the backend option, or one full context per running sequence.
  void configure_kv_pool(BackendOptions& bo, const LoadedModel& m) const {
    if (options.kv_blocks > 0) {
      bo.kv_blocks = options.kv_blocks;
    } else if (bo.kv_blocks <= 0) {
      int64_t ctx = bo.context_size > 0 ? bo.context_size : std::min<int64_t>(m.config().n_ctx_train, 4096);
      if (ctx <= 0) ctx = 4096;
      const int64_t bt = bo.kv_block_tokens > 0 ? bo.kv_block_tokens : 16;
      bo.kv_blocks = (ctx + bt - 1) / bt * options.max_running;
    }
  }

  // ---- requests ----
  void admit() {
    while (static_cast<int64_t>(running.size()) < options.max_running) {
      Sequence* s = nullptr;
      if (!preempted.empty()) {
        auto best = std::min_element(preempted.begin(), preempted.end(),
                                     [](Sequence* a, Sequence* b) { return Scheduler::ranks_above(*a, *b); });
        s = *best;
      }
      std::unique_ptr<Sequence> fresh;
      {
        std::lock_guard lock(mutex);
        if (!incoming.empty()) {
          auto best = incoming.begin();
          for (auto it = incoming.begin(); it != incoming.end(); ++it) {
            if (Scheduler::ranks_above(**it, **best)) best = it;
          }
          if (!s || Scheduler::ranks_above(**best, *s)) {
            fresh = std::move(*best);
            incoming.erase(best);
          }
        }
      }
      if (fresh) {
        if (fresh->model_generation != model_generation) {
          finish_unadmitted(*fresh, "cancelled");
          continue;
        }
        s = fresh.get();
      }
      if (!s) return;
      if (!try_start(*s)) {
        if (fresh) {  // back to the front of the queue
          std::lock_guard lock(mutex);
          incoming.push_front(std::move(fresh));
        }
        return;
      }
      if (fresh) {
        owned.push_back(std::move(fresh));
      } else {
        std::erase(preempted, s);
      }
      running.push_back(s);
    }
  }

  // Prefix match and the memory check; false (nothing held) when its prompt cannot get blocks now.
  bool try_start(Sequence& s) {
    PrefixMatch m;
    const auto max_match = s.known();
    if (options.kv_store) {
      KvStore& store = *options.kv_store;
      auto has = [&](uint64_t h) { return store.contains(fingerprint, h); };
      auto restore = [&](const PublishedBlock& meta, int32_t block) { return restore_block(meta, block); };
      m = kv->match_prefix(s.table, s.tokens, max_match, has, restore);
    } else {
      m = kv->match_prefix(s.table, s.tokens, max_match);
    }
    // At least the last known token is computed, for its logits.
    s.computed = std::min(m.cached_tokens + m.restored_tokens, s.known() - 1);
    if (!running.empty() && kv->blocks_to_write(s.table, s.computed, s.known()) > kv->pool().available()) {
      kv->release(s.table);
      s.computed = 0;
      return false;
    }
    if (!s.admitted) {
      s.admitted = true;
      s.first_scheduled = Clock::now();
      s.usage.cached_tokens = std::min(m.cached_tokens, s.computed);
      s.usage.restored_tokens = std::min(m.restored_tokens, s.computed - s.usage.cached_tokens);
      prompt_tokens_seen += s.n_prompt;
      prompt_tokens_reused += s.usage.cached_tokens + s.usage.restored_tokens;
      RequestEvent e;
      e.kind = RequestEvent::Kind::kStarted;
      e.request_id = s.id;
      e.usage = s.usage;
      call_sink(s.sink, e);
    }
    return true;
  }

  bool restore_block(const PublishedBlock& meta, int32_t block) {
    auto record = options.kv_store->load(fingerprint, meta.chain_hash);
    if (!record || record->tokens != meta.tokens || record->parent_hash != meta.parent_hash ||
        static_cast<int64_t>(record->data.size()) != fingerprint.geometry.block_bytes()) {
      return false;
    }
    backend->write_kv_block(block, record->data);
    return true;
  }

  // Saves published blocks to the store (eviction, or a finished request with a cache group).
  void save_blocks(const std::string& group, const std::vector<std::pair<int32_t, const PublishedBlock*>>& blocks) {
    try {
      std::vector<KvBlockRecord> records;
      for (const auto& [block, meta] : blocks) {
        if (options.kv_store->contains(fingerprint, meta->chain_hash)) continue;
        KvBlockRecord r{meta->chain_hash, meta->parent_hash, meta->tokens, {}};
        r.data.resize(static_cast<size_t>(fingerprint.geometry.block_bytes()));
        backend->read_kv_block(block, r.data);
        records.push_back(std::move(r));
      }
      if (!records.empty()) options.kv_store->save(fingerprint, group, records);
    } catch (const std::exception& e) {
      spdlog::warn("KV store: saving blocks failed: {}", e.what());
    }
  }

  void cancel_now(uint64_t id) {
    for (auto& s : owned) {
      if (s->id == id) {
        finish(*s, "cancelled");
        return;
      }
    }
    std::unique_ptr<Sequence> waiting;
    {
      std::lock_guard lock(mutex);
      for (auto it = incoming.begin(); it != incoming.end(); ++it) {
        if ((*it)->id == id) {
          waiting = std::move(*it);
          incoming.erase(it);
          break;
        }
      }
    }
    if (waiting) finish_unadmitted(*waiting, "cancelled");
  }

  // ---- one step ----
  void step() {
    auto copy = [this](int32_t src, int32_t dst) { backend->copy_kv_block(src, dst); };
    SchedulePlan plan = scheduler.schedule(running, *kv, copy);
    for (Sequence* p : plan.preempted) {
      spdlog::debug("request {}: preempted (KV pool full)", p->id);
      ++preemptions;
      preempted.push_back(p);
    }
    if (plan.slices.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // nothing fits this step
      return;
    }
    std::vector<SequenceSlice> slices(plan.slices.size());
    for (size_t i = 0; i < plan.slices.size(); ++i) {
      const Sequence& s = *plan.slices[i].seq;
      const int64_t n = plan.slices[i].n_tokens;
      SequenceSlice& x = slices[i];
      x.tokens = std::span<const TokenId>(s.tokens).subspan(static_cast<size_t>(s.computed), static_cast<size_t>(n));
      x.n_past = s.computed;
      x.block_table = s.table.blocks;
      x.n_logits = s.computed + n == s.known() ? 1 : 0;
    }
    try {
      backend->forward_batch(slices, logits);
    } catch (const std::exception& e) {
      spdlog::error("engine: forward pass failed: {}", e.what());
      for (const auto& sl : plan.slices) finish(*sl.seq, "error", e.what());
      return;
    }
    const auto n_vocab = static_cast<size_t>(backend->n_vocab());
    size_t row = 0;
    for (size_t i = 0; i < plan.slices.size(); ++i) {
      Sequence& s = *plan.slices[i].seq;
      const int64_t n = plan.slices[i].n_tokens;
      s.usage.prefilled_tokens += std::max<int64_t>(0, std::min(s.computed + n, s.n_prompt) - s.computed);
      s.computed += n;
      kv->publish_full_blocks(s.table, s.tokens, s.computed);
      if (slices[i].n_logits == 0) continue;
      on_logits(s, std::span<const float>(logits).subspan(row * n_vocab, n_vocab));
      ++row;
    }
  }

  // Samples the next token of `s` and streams its text; may finish `s`.
  void on_logits(Sequence& s, std::span<const float> row) {
    if (s.generated() >= s.request.max_tokens) return finish(s, "length");
    const Tokenizer& tok = model->tokenizer();
    TokenId t = 0;
    try {
      if (s.constraint) {
        s.masked.assign(row.begin(), row.end());
        s.constraint->mask(s.masked);
        t = s.sampler->sample(s.masked);
        s.constraint->accept(t);
      } else {
        t = s.sampler->sample(row);
      }
    } catch (const std::exception& e) {
      return finish(s, "error", e.what());
    }
    s.sampler->accept(t);
    ++tokens_generated;
    if (s.generated() == 0) s.first_token = Clock::now();
    const bool stop_token = std::find(s.request.stop_tokens.begin(), s.request.stop_tokens.end(), t) != s.request.stop_tokens.end();
    if ((!s.request.ignore_eos && tok.is_end_of_generation(t)) || stop_token) return finish(s, "stop");

    s.tokens.push_back(t);  // known now; computed next step
    s.usage.completion_tokens = s.generated();
    s.pending_tokens.push_back(t);
    if (s.request.top_logprobs >= 0) s.pending_logprobs.push_back(token_logprob(row, t, s.request.top_logprobs, tok));
    const std::string text = s.stop.push(s.utf8.push(tok.token_to_piece(t)));
    if (!text.empty()) emit_delta(s, text);
    if (s.stop.matched()) return finish(s, "stop");
    if (s.constraint && s.constraint->complete()) return finish(s, "stop");
    if (s.generated() >= s.request.max_tokens) return finish(s, "length");
    if (s.known() >= s.limit) return finish(s, "context");
  }

  void emit_delta(Sequence& s, std::string text) {
    RequestEvent e;
    e.kind = RequestEvent::Kind::kDelta;
    e.request_id = s.id;
    e.text = std::move(text);
    e.tokens.swap(s.pending_tokens);
    e.logprobs.swap(s.pending_logprobs);
    call_sink(s.sink, e);
  }

  RequestTimings timings_of(const Sequence& s) const {
    RequestTimings t;
    const auto now = Clock::now();
    if (s.admitted) t.queue_ms = ms_between(s.submitted, s.first_scheduled);
    if (s.generated() > 0 || s.first_token != Clock::time_point{}) {
      t.time_to_first_token_ms = ms_between(s.submitted, s.first_token);
      t.prompt_ms = ms_between(s.first_scheduled, s.first_token);
      t.decode_ms = ms_between(s.first_token, now);
      if (s.generated() > 1 && t.decode_ms > 0) t.decode_tokens_per_second = (s.generated() - 1) * 1000.0 / t.decode_ms;
    }
    return t;
  }

  // Ends an admitted sequence: flushes held text, saves/caches its blocks, sends kFinished.
  void finish(Sequence& s, const std::string& reason, const std::string& error = {}) {
    if (reason == "stop" || reason == "length" || reason == "context") {
      std::string rest = s.stop.push(s.utf8.flush());
      rest += s.stop.flush();
      if (!rest.empty() || !s.pending_tokens.empty()) emit_delta(s, rest);
    }
    if (options.kv_store && !s.request.cache_group.empty() && reason != "error") {
      std::vector<std::pair<int32_t, const PublishedBlock*>> blocks;
      for (size_t i = 0; i < s.table.hashes.size(); ++i) {
        const int32_t b = s.table.blocks[i];
        if (const PublishedBlock* meta = kv->pool().published(b)) blocks.emplace_back(b, meta);
      }
      save_blocks(s.request.cache_group, blocks);
    }
    if (kv) kv->release(s.table);
    RequestEvent e;
    e.kind = RequestEvent::Kind::kFinished;
    e.request_id = s.id;
    e.finish_reason = reason;
    e.error = error;
    e.usage = s.usage;
    e.usage.completion_tokens = s.generated();
    e.timings = timings_of(s);
    ++requests_finished;
    const RequestSink sink = std::move(s.sink);
    std::erase(running, &s);
    std::erase(preempted, &s);
    std::erase_if(owned, [&](const std::unique_ptr<Sequence>& p) { return p.get() == &s; });  // s is gone now
    call_sink(sink, e);
  }

  void finish_unadmitted(Sequence& s, const std::string& reason) {
    RequestEvent e;
    e.kind = RequestEvent::Kind::kFinished;
    e.request_id = s.id;
    e.finish_reason = reason;
    e.usage = s.usage;
    ++requests_finished;
    call_sink(s.sink, e);
  }

  void publish_stats() {
    std::lock_guard lock(mutex);
    EngineStats& st = published_stats;
    st.queued = static_cast<int64_t>(incoming.size() + preempted.size());
    st.running = static_cast<int64_t>(running.size());
    if (kv) {
      st.kv_blocks_total = kv->pool().total();
      st.kv_blocks_used = kv->pool().used();
      st.kv_blocks_cached = kv->pool().cached();
      st.kv_blocks_free = kv->pool().free();
    } else {
      st.kv_blocks_total = st.kv_blocks_used = st.kv_blocks_cached = st.kv_blocks_free = 0;
    }
    st.prefix_hit_rate = prompt_tokens_seen > 0 ? static_cast<double>(prompt_tokens_reused) / prompt_tokens_seen : 0.0;
    st.requests_finished = requests_finished;
    st.tokens_generated = tokens_generated;
    st.preemptions = preemptions;
  }
};

// -------------------------------------------------------------------------------------------------

Engine::Engine(EngineOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Engine::~Engine() = default;

void Engine::load_model(const std::string& path, ModelSink sink) {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->model_ops.push_back(ModelOp{true, path, std::move(sink)});
  }
  impl_->wake.notify_all();
}

void Engine::unload_model(ModelSink sink) {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->model_ops.push_back(ModelOp{false, {}, std::move(sink)});
  }
  impl_->wake.notify_all();
}

uint64_t Engine::submit(Request request, RequestSink sink) {
  std::shared_ptr<const ModelState> st;
  auto queue_full = [&] {
    return QueueFullError(fmt::format("the engine's queue is full ({} requests waiting)", impl_->options.max_queue));
  };
  {
    std::lock_guard lock(impl_->mutex);
    if (static_cast<int64_t>(impl_->incoming.size()) >= impl_->options.max_queue) throw queue_full();
    st = impl_->state;
  }
  if (!st) throw Error("no model is loaded");
  if (request.max_tokens < 0) throw Error(fmt::format("max_tokens must not be negative (got {})", request.max_tokens));
  if (request.top_logprobs > 20) throw Error(fmt::format("top_logprobs is at most 20 (got {})", request.top_logprobs));
  // Tokenizing and rendering run here, on the caller's thread, so the engine thread never waits on them.
  BuiltPrompt prompt = build_prompt(*st->model, *st->renderer, request, st->limit, st->limit_what);

  auto s = std::make_unique<Sequence>();
  s->model_generation = st->generation;
  s->sampler = std::make_unique<Sampler>(request.sampling, st->n_vocab);
  if (request.constraint) s->constraint = request.constraint(st->model->tokenizer());
  for (TokenId t : prompt.tokens) s->sampler->accept(t);
  s->stop = StopMatcher(request.stop_strings);
  s->tokens = std::move(prompt.tokens);
  s->n_prompt = s->known();
  s->limit = st->limit;
  s->usage.prompt_tokens = s->n_prompt;
  s->usage.truncated_tokens = prompt.truncated_tokens;
  s->request = std::move(request);
  s->sink = std::move(sink);
  s->submitted = Clock::now();
  uint64_t id = 0;
  {
    std::lock_guard lock(impl_->mutex);
    if (static_cast<int64_t>(impl_->incoming.size()) >= impl_->options.max_queue) throw queue_full();
    id = impl_->next_request_id++;
    s->id = id;
    impl_->incoming.push_back(std::move(s));
  }
  impl_->wake.notify_all();
  return id;
}

void Engine::cancel(uint64_t request_id) {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->cancels.push_back(request_id);
  }
  impl_->wake.notify_all();
}

EngineStats Engine::stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->published_stats;
}

}  // namespace hearth
