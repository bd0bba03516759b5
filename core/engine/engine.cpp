#include "core/engine/engine.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "core/engine/draft_model.h"
#include "core/engine/energy_ledger.h"
#include "core/engine/model_fingerprint.h"
#include "core/engine/prompt_builder.h"
#include "core/engine/scheduler.h"
#include "core/engine/sequence.h"
#include "core/engine/spec_controller.h"
#include "core/engine/speculation.h"
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
  bool has_draft = false;  // a draft model is loaded beside it
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

// Reads a prompt's stored KV blocks for match_prefix (the persistent prefix cache): windows of
// about 64 MiB through KvStore::load_chain (one transaction, verified in parallel by the store)
// instead of one query per block, and the next window on a helper thread while the engine writes
// the current one into the backend, so a restore costs about max(store read, pool write) rather
// than their sum. Only one thread uses the store at any moment: everything but take() of an
// arriving window waits for the read in flight, and so does the destructor; other store users
// on the engine thread (the eviction hook's saves) call settle() first.
class StoredChainReader {
 public:
  // hashes: the chain hashes of the prompt's full blocks, in order.
  StoredChainReader(KvStore& store, const KvFingerprint& fingerprint, std::vector<uint64_t> hashes)
      : store_(store),
        fingerprint_(fingerprint),
        hashes_(std::move(hashes)),
        window_(static_cast<size_t>(std::max<int64_t>(1, (int64_t{64} << 20) / std::max<int64_t>(1, fingerprint.geometry.block_bytes())))) {}
  ~StoredChainReader() { drain(); }
  StoredChainReader(const StoredChainReader&) = delete;
  StoredChainReader& operator=(const StoredChainReader&) = delete;

  bool has(uint64_t h) {
    if (find(h)) return true;
    if ((next_.valid() || settled_) && next_first_ < hashes_.size() && hashes_[next_first_] == h) return true;  // arriving
    drain();
    return store_.contains(fingerprint_, h);
  }

  // Waits for the read in flight and keeps its window: the store is free for another call.
  void settle() {
    if (next_.valid()) settled_ = wait(next_);
  }

  // The verified record of block h, or nullopt.
  std::optional<KvBlockRecord> take(uint64_t h) {
    if (!find(h)) {
      const auto at = std::find(hashes_.begin(), hashes_.end(), h);
      if (at == hashes_.end()) {
        drain();
        return store_.load(fingerprint_, h);
      }
      const auto first = static_cast<size_t>(at - hashes_.begin());
      if (next_.valid() && next_first_ == first) {
        ahead_ = wait(next_);
      } else if (settled_ && next_first_ == first) {
        ahead_ = std::move(*settled_);
        settled_.reset();
      } else {
        drain();
        ahead_ = store_.load_chain(fingerprint_, window_at(first));
      }
      const size_t after = first + ahead_.size();
      if (after < hashes_.size() && !ahead_.empty() && ahead_.back()) start(after);
    }
    std::optional<KvBlockRecord>* record = find(h);
    if (!record) return std::nullopt;
    std::optional<KvBlockRecord> out = std::move(*record);
    record->reset();
    return out;
  }

 private:
  using Window = std::vector<std::optional<KvBlockRecord>>;

  std::span<const uint64_t> window_at(size_t first) const {
    return std::span<const uint64_t>(hashes_).subspan(first, std::min(window_, hashes_.size() - first));
  }
  std::optional<KvBlockRecord>* find(uint64_t h) {
    for (auto& r : ahead_) {
      if (r && r->chain_hash == h) return &r;
    }
    return nullptr;
  }
  void start(size_t first) {
    next_first_ = first;
    try {
      next_ = std::async(std::launch::async, [this, span = window_at(first)] { return store_.load_chain(fingerprint_, span); });
    } catch (const std::exception& e) {  // no thread: the next window is read when it is needed
      spdlog::debug("KV store: no read-ahead thread: {}", e.what());
    }
  }
  static Window wait(std::future<Window>& f) {
    try {
      return f.get();
    } catch (const std::exception& e) {
      spdlog::warn("KV store: reading ahead failed: {}", e.what());
      return {};
    }
  }
  void drain() {
    if (next_.valid()) wait(next_);
    settled_.reset();
  }

  KvStore& store_;
  const KvFingerprint fingerprint_;
  const std::vector<uint64_t> hashes_;
  const size_t window_;  // blocks per load_chain call
  Window ahead_;         // the current window; taken records are reset
  std::future<Window> next_;
  std::optional<Window> settled_;  // next_'s result, taken early by settle()
  size_t next_first_ = 0;
};

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
  uint64_t submissions = 0;  // requests ever queued (gather_burst watches it)

  // ---- engine thread only ----
  Scheduler scheduler;
  std::shared_ptr<const LoadedModel> model;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<KvCache> kv;
  std::unique_ptr<DraftModel> draft;  // speculative decoding's draft model, optional
  SpecController spec;
  KvFingerprint fingerprint;
  StoredChainReader* restoring_reader = nullptr;  // during try_start's prefix match, for save_blocks
  uint64_t model_generation = 0;
  std::vector<std::unique_ptr<Sequence>> owned;  // admitted: running or preempted
  std::vector<Sequence*> running;
  std::vector<Sequence*> preempted;
  std::vector<float> logits;
  // [host5] Rows that need only their best entries (greedy, top-k without penalties) come from
  // the backend as candidates (Backend::forward_batch_select): per logits row its k (0: whole).
  static constexpr int32_t kMaxSelectTopK = 64;
  std::vector<int32_t> select_k;
  std::vector<LogitCandidate> best;
  EnergyLedger energy;  // [host5] joules per request (issue 9)
  std::unique_ptr<EnergyCounter> energy_counter;  // [host5] the backend's counter; reset before the backend
  int64_t prompt_tokens_seen = 0, prompt_tokens_reused = 0;
  uint64_t requests_finished = 0, tokens_generated = 0, preemptions = 0;
  uint64_t drafted_total = 0, accepted_total = 0;
  uint64_t steps_total = 0;
  double step_seconds_total = 0, forward_seconds_total = 0, before_forward_seconds_total = 0;
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
        gather_burst(lock);
        to_cancel.swap(cancels);
        ops.swap(model_ops);
      }
      for (auto& op : ops) op.load ? do_load(op) : do_unload(op);
      for (uint64_t id : to_cancel) cancel_now(id);
      if (kv) {
        admit();
        if (!running.empty()) step();
        if (running.empty() && preempted.empty()) energy.idle(now_seconds(), energy_reader());  // [host5] after finishes and cancels
      } else {
        drop_everything("cancelled");  // submitted just before an unload
      }
      publish_stats();
    }
    drop_everything("cancelled");
    energy_counter.reset();  // [host5] before the backend it reads
    backend.reset();
    model.reset();
  }

  // An idle engine that just got a request waits briefly for the rest of a burst (a client
  // submitting several requests at once), so that their prompts share the first step instead of
  // the first request's prefill delaying all the others. `lock` holds `mutex`.
  void gather_burst(std::unique_lock<std::mutex>& lock) {
    const auto window = options.admit_window;
    if (window.count() <= 0 || !running.empty() || !preempted.empty() || incoming.empty()) return;
    if (incoming.size() == 1 && warm_prompt(*incoming.front())) return;  // [host5]
    const auto deadline = Clock::now() + 4 * window;
    uint64_t seen = submissions;
    while (!stopping && static_cast<int64_t>(incoming.size()) < options.max_running) {
      const auto until = std::min(deadline, Clock::now() + window);
      wake.wait_until(lock, until, [&] { return stopping || submissions != seen; });
      if (submissions == seen || Clock::now() >= deadline) return;  // quiet for a whole window
      seen = submissions;
    }
  }

  // [host5] A prompt that is all but cached in memory (a warm shared prefix: at least one full
  // block cached, at most kWarmSuffix tokens to compute) makes a short first step, so it starts
  // at once: waiting for a burst would add the admit window to a time to first token of a few
  // milliseconds. Read-only (no references taken); engine thread.
  static constexpr int64_t kWarmSuffix = 64;
  bool warm_prompt(const Sequence& s) const {
    if (!kv || s.model_generation != model_generation) return false;
    const int64_t bt = kv->block_tokens();
    const auto tokens = std::span<const TokenId>(s.tokens);
    int64_t cached = 0;
    uint64_t parent = 0;
    for (int64_t begin = 0; begin + bt <= s.known(); begin += bt) {
      if (cached > 0 && s.known() - cached <= kWarmSuffix) break;  // enough found
      parent = chain_hash(kv->hash_seed(), parent, tokens.subspan(static_cast<size_t>(begin), static_cast<size_t>(bt)));
      if (!kv->pool().find(parent)) break;
      cached += bt;
    }
    return cached > 0 && s.known() - cached <= kWarmSuffix;
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
    draft.reset();
    energy_counter.reset();  // [host5] its helper thread reads the backend
    backend.reset();  // before the model: it points into the model's weights
    model.reset();
    {
      std::lock_guard lock(mutex);
      published_stats.draft_model_path.clear();
    }
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
      if (!options.draft_model_path.empty()) {
        call_model_sink(op.sink, ModelEvent::Kind::kProgress, 0.9, "loading the draft model " + options.draft_model_path);
        draft = load_draft(*loaded, *choice.backend);
        st->has_draft = true;
      }
      model = loaded;
      backend = std::move(choice.backend);
      energy = EnergyLedger();  // [host5] a new device counter
      energy_counter = std::make_unique<EnergyCounter>([b = backend.get()] { return b->energy_joules(); });
      // One read now, at load: opening the counter (NVML: dlopen + init, tens of ms) and the first
      // slow read (which moves reading to the counter's helper thread) must not land in the first
      // request's time to first token.
      (void)(*energy_counter)();
      {
        std::lock_guard lock(mutex);
        state = st;
        published_stats.model_path = op.path;
        published_stats.device = backend->device_name();
        published_stats.draft_model_path = draft ? draft->path() : std::string();
      }
      spdlog::info("engine: {} on {} ({}); KV pool {} blocks x {} tokens", op.path, backend->device_name(), choice.reason,
                   n_blocks, geometry.block_tokens);
      call_model_sink(op.sink, ModelEvent::Kind::kLoaded, 1.0, choice.reason);
    } catch (const std::exception& e) {
      kv.reset();
      draft.reset();
      energy_counter.reset();  // [host5]
      backend.reset();
      model.reset();
      call_model_sink(op.sink, ModelEvent::Kind::kFailed, 0.0, e.what());
    }
  }

  // The draft model beside `target`: its own backend and a KV pool for max_running contexts.
  std::unique_ptr<DraftModel> load_draft(const LoadedModel& target, const Backend& target_backend) const {
    auto loaded = std::shared_ptr<const LoadedModel>(LoadedModel::open(options.draft_model_path));
    BackendOptions bo = options.backend;
    bo.context_size = target_backend.context_size();
    const int64_t bt = bo.kv_block_tokens > 0 ? bo.kv_block_tokens : 16;
    bo.kv_blocks = (bo.context_size + bt - 1) / bt * options.max_running;
    BackendChoice choice = options.draft_backend_factory ? options.draft_backend_factory(*loaded, bo)
                           : options.backend_factory     ? options.backend_factory(*loaded, bo)
                                                         : create_backend(*loaded, bo);
    spdlog::info("engine: draft model {} on {}", options.draft_model_path, choice.backend->device_name());
    return std::make_unique<DraftModel>(loaded, std::move(choice.backend), target, target_backend.n_vocab(),
                                        std::max<int64_t>(1, options.token_budget));
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
      std::vector<uint64_t> hashes;  // chain hashes of the prompt's full blocks
      for (int64_t begin = 0; begin + kv->block_tokens() <= max_match; begin += kv->block_tokens()) {
        const auto tokens = std::span<const TokenId>(s.tokens).subspan(static_cast<size_t>(begin),
                                                                        static_cast<size_t>(kv->block_tokens()));
        hashes.push_back(chain_hash(kv->hash_seed(), hashes.empty() ? 0 : hashes.back(), tokens));
      }
      StoredChainReader reader(*options.kv_store, fingerprint, std::move(hashes));
      auto has = [&](uint64_t h) { return reader.has(h); };
      auto restore = [&](const PublishedBlock& meta, int32_t block) {
        const auto record = reader.take(meta.chain_hash);
        return record && write_restored_block(meta, block, *record);
      };
      // Blocks allocated for restores may evict others, whose saves (save_blocks) settle the reader first.
      restoring_reader = &reader;
      struct ClearOnExit {
        StoredChainReader*& slot;
        ~ClearOnExit() { slot = nullptr; }
      } clear_reader{restoring_reader};
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
      spdlog::debug("request {}: admitted after {:.3f} ms in the queue; {} of {} prompt tokens cached, {} restored", s.id,
                    ms_between(s.submitted, s.first_scheduled), s.usage.cached_tokens, s.n_prompt, s.usage.restored_tokens);
      RequestEvent e;
      e.kind = RequestEvent::Kind::kStarted;
      e.request_id = s.id;
      e.usage = s.usage;
      call_sink(s.sink, e);
    }
    return true;
  }

  bool write_restored_block(const PublishedBlock& meta, int32_t block, const KvBlockRecord& record) {
    if (record.chain_hash != meta.chain_hash || record.tokens != meta.tokens || record.parent_hash != meta.parent_hash ||
        static_cast<int64_t>(record.data.size()) != fingerprint.geometry.block_bytes()) {
      return false;
    }
    backend->write_kv_block(block, record.data);
    return true;
  }

  // Saves published blocks to the store (eviction, or a finished request with a cache group).
  void save_blocks(const std::string& group, const std::vector<std::pair<int32_t, const PublishedBlock*>>& blocks) {
    if (restoring_reader) restoring_reader->settle();  // one store user at a time
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

  // [host5] The backend's energy counter (nullopt without one, or without a backend).
  EnergyLedger::Reader energy_reader() {
    return [this]() -> std::optional<double> { return energy_counter ? (*energy_counter)() : std::nullopt; };
  }

  // Seconds on the step clock (EngineOptions::step_clock; tests give a fake one).
  double now_seconds() const {
    if (options.step_clock) return options.step_clock();
    return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
  }

  // ---- one step ----
  void step() {
    const auto wall_start = Clock::now();
    const double t0 = now_seconds();
    const uint64_t generated_before = tokens_generated;
    propose_drafts();
    auto copy = [this](int32_t src, int32_t dst) { backend->copy_kv_block(src, dst); };
    SchedulePlan plan = scheduler.schedule(running, *kv, copy);
    for (Sequence* p : plan.preempted) {
      spdlog::debug("request {}: preempted (KV pool full)", p->id);
      ++preemptions;
      drop_drafts(*p);
      preempted.push_back(p);
    }
    if (plan.slices.empty()) {
      for (Sequence* s : running) drop_drafts(*s);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // nothing fits this step
      return;
    }
    std::vector<SequenceSlice> slices(plan.slices.size());
    bool decode_only = true;
    int64_t drafted = 0;
    StepShape shape;
    for (size_t i = 0; i < plan.slices.size(); ++i) {
      const Sequence& s = *plan.slices[i].seq;
      const int64_t n = plan.slices[i].n_tokens;
      SequenceSlice& x = slices[i];
      x.tokens = std::span<const TokenId>(s.tokens).subspan(static_cast<size_t>(s.computed), static_cast<size_t>(n));
      x.n_past = s.computed;
      x.block_table = s.table.blocks;
      // A sequence with drafts needs logits for its token and every draft in the slice.
      x.n_logits = s.n_draft > 0 ? n : (s.computed + n == s.known() ? 1 : 0);
      decode_only = decode_only && s.decoding();
      if (s.n_draft > 0) drafted += n - 1;
      shape.rows += x.n_logits;
      if (s.decoding()) {
        ++shape.decode;
        shape.drafts += s.n_draft > 0 ? n - 1 : 0;
      } else {
        shape.prefill += n;
      }
    }
    // [host5] Which rows can come reduced: a plain sample of one row (no drafts to verify, no
    // constraint mask, no logprobs) whose chain needs only the best few entries.
    select_k.clear();
    bool any_select = false;
    for (size_t i = 0; i < plan.slices.size(); ++i) {
      const Sequence& s = *plan.slices[i].seq;
      // [spec5] verify rows of a plain-greedy stream need only their argmax (k = 1) too.
      const bool plain = options.reduce_logits && (s.n_draft == 0 || verifies_greedy(s)) && !s.constraint &&
                         s.request.top_logprobs < 0;
      for (int64_t r = 0; r < slices[i].n_logits; ++r) {
        const int32_t k = plain ? s.sampler->candidates_needed(kMaxSelectTopK) : 0;
        select_k.push_back(k);
        any_select = any_select || k > 0;
      }
    }
    energy.begin_step(now_seconds(), energy_reader());
    const auto forward_start = Clock::now();
    try {
      if (any_select) {
        backend->forward_batch_select(slices, select_k, logits, best);
      } else {
        backend->forward_batch(slices, logits);
      }
    } catch (const std::exception& e) {
      spdlog::error("engine: forward pass failed: {}", e.what());
      for (const auto& sl : plan.slices) finish(*sl.seq, "error", e.what());
      for (Sequence* s : running) drop_drafts(*s);
      return;
    }
    const auto forward_end = Clock::now();
    // [host5] Before any finish below settles a request's energy: the pass's tokens, all of them.
    for (const auto& sl : plan.slices) energy.add_tokens(sl.seq->id, sl.n_tokens);
    const auto n_vocab = static_cast<size_t>(backend->n_vocab());
    size_t row = 0, full_row = 0, best_at = 0;  // logits row; of those, whole rows; entries of `best`
    for (size_t i = 0; i < plan.slices.size(); ++i) {
      Sequence& s = *plan.slices[i].seq;
      const int64_t n = plan.slices[i].n_tokens;
      const auto rows = static_cast<size_t>(slices[i].n_logits);
      size_t whole = 0, k = 0;  // whole rows of this slice; entries of its reduced row
      for (size_t r = row; r < row + rows; ++r) {
        if (select_k[r] == 0) {
          ++whole;
        } else {
          k += static_cast<size_t>(select_k[r]);
        }
      }
      const auto span = std::span<const float>(logits).subspan(full_row * n_vocab, whole * n_vocab);
      const auto best_span = std::span<const LogitCandidate>(best).subspan(best_at, k);
      row += rows;
      full_row += whole;
      best_at += k;
      if (s.n_draft > 0) {
        verify(s, n, span, best_span);  // may finish s [spec5: reduced rows]
        continue;
      }
      s.usage.prefilled_tokens += std::max<int64_t>(0, std::min(s.computed + n, s.n_prompt) - s.computed);
      s.computed += n;
      kv->publish_full_blocks(s.table, s.tokens, s.computed);
      if (rows == 0) continue;
      on_logits(s, span, best_span);
    }
    for (Sequence* s : running) drop_drafts(*s);  // drafts that got no slice this step
    energy.end_step(now_seconds(), energy_reader());
    const auto step_end = Clock::now();
    trace_step(shape, wall_start, forward_start, forward_end, step_end);
    if (decode_only) {
      spec.record_step(static_cast<int64_t>(plan.slices.size()), drafted,
                       static_cast<int64_t>(tokens_generated - generated_before), now_seconds() - t0);
    }
  }

  // Step counters, and at debug level one line per step: what ran (decode slices, prefill
  // tokens, drafts, rows of logits) and where the time went (before the forward pass: drafting
  // and scheduling; the forward pass; after it: sampling, verification, events).
  struct StepShape {
    int64_t decode = 0, prefill = 0, drafts = 0, rows = 0;  // slices, tokens, tokens, logits rows
  };
  void trace_step(const StepShape& shape, Clock::time_point start, Clock::time_point forward_start,
                  Clock::time_point forward_end, Clock::time_point end) {
    ++steps_total;
    step_seconds_total += std::chrono::duration<double>(end - start).count();
    forward_seconds_total += std::chrono::duration<double>(forward_end - forward_start).count();
    before_forward_seconds_total += std::chrono::duration<double>(forward_start - start).count();  // [host5]
    spdlog::debug("engine step {}: {} decode slices, {} prefill tokens, {} drafts, {} logits rows; before forward {:.3f} ms, "
                  "forward {:.3f} ms, after {:.3f} ms",
                  steps_total, shape.decode, shape.prefill, shape.drafts, shape.rows, ms_between(start, forward_start),
                  ms_between(forward_start, forward_end), ms_between(forward_end, end));
  }

  // ---- speculative decoding ----
  // Appends draft tokens to every decoding sequence that speculates this step.
  void propose_drafts() {
    int64_t batch = 0;
    for (const Sequence* s : running) batch += s->decoding() ? 1 : 0;
    // The draft lengths of every decoding stream that may speculate, planned for the batch at once.
    std::vector<SpecAsk> asks;
    std::vector<Sequence*> ask_seqs;
    for (Sequence* s : running) {
      if (s->spec == SpecMode::kOff || s->n_draft > 0 || !s->decoding()) continue;
      // Room for the drafts in the context, and no drafts past max_tokens (the step that
      // accepts them all emits one more token of its own).
      const int64_t cap = std::min<int64_t>({s->request.spec_max_draft, s->limit - s->known(),
                                             s->request.max_tokens - s->generated() - 1});
      if (cap <= 0) continue;
      asks.push_back({&s->spec_stats, s->spec == SpecMode::kAuto, static_cast<int32_t>(cap)});
      ask_seqs.push_back(s);
    }
    const std::vector<int32_t> lengths = spec.plan(asks, batch, scheduler.options().token_budget - batch);
    std::vector<DraftJob> jobs;
    std::vector<Sequence*> job_seqs;
    for (Sequence* s : running) {
      if (s->spec == SpecMode::kOff || s->n_draft > 0) continue;
      const bool use_draft = draft && s->spec != SpecMode::kNgram && s->draft.sampler;
      if (!s->decoding()) {
        // Prompt prefill: the draft model prefills the same tokens now, so that its catch-up
        // lands in the time to first token rather than in the first decode steps.
        if (use_draft && s->generated() == 0 && s->draft.computed < s->known()) {
          DraftJob j;
          j.slot = &s->draft;
          j.tokens = s->tokens;
          j.k = 0;
          j.rng = &s->spec_rng;
          jobs.push_back(std::move(j));
          job_seqs.push_back(s);
        }
        continue;
      }
      const auto at = std::find(ask_seqs.begin(), ask_seqs.end(), s);
      const int64_t k = at == ask_seqs.end() ? 0 : lengths[static_cast<size_t>(at - ask_seqs.begin())];
      if (k <= 0) continue;
      if (use_draft) {
        DraftJob j;
        j.slot = &s->draft;
        j.tokens = s->tokens;
        j.k = static_cast<int32_t>(k);
        j.rng = &s->spec_rng;
        jobs.push_back(std::move(j));
        job_seqs.push_back(s);
      } else {
        append_drafts(*s, ngram_draft(s->tokens, kNgramMax, static_cast<int32_t>(k)), {});
      }
    }
    if (jobs.empty()) return;
    try {
      draft->propose(jobs);
    } catch (const std::exception& e) {
      spdlog::warn("engine: the draft model failed ({}); this step decodes without drafts", e.what());
      for (Sequence* s : job_seqs) draft->release(s->draft);
      return;
    }
    for (size_t i = 0; i < jobs.size(); ++i) append_drafts(*job_seqs[i], jobs[i].drafts, std::move(jobs[i].q));
  }

  static constexpr int32_t kNgramMax = 4;  // longest suffix n-gram prompt lookup tries

  void append_drafts(Sequence& s, const std::vector<TokenId>& drafts, std::vector<std::vector<float>> q) {
    if (drafts.empty()) return;
    s.tokens.insert(s.tokens.end(), drafts.begin(), drafts.end());
    s.n_draft = static_cast<int64_t>(drafts.size());
    s.draft_q = std::move(q);
    s.draft_q.resize(drafts.size());  // n-gram: empty rows, q is a point mass
  }

  // Removes unverified drafts (and any block reserved for them).
  void drop_drafts(Sequence& s) {
    if (s.n_draft == 0) return;
    s.tokens.resize(static_cast<size_t>(s.verified()));
    s.n_draft = 0;
    s.draft_q.clear();
    if (!s.table.blocks.empty()) kv->truncate(s.table, std::max<int64_t>(s.computed, s.known()));
  }

  // The slice computed the sequence's last verified token and its first n - 1 drafts; rows
  // [n, n_vocab]: row j is the target's distribution after position computed + j. Accepts a
  // prefix of the drafts by the speculative-sampling rule, then emits one token of the target's
  // (the replacement of the first rejected draft, or the token after the last accepted one).
  // [spec5] `best`: when not empty, every row came reduced to its best entries (the same number
  // per row; greedy: the argmax alone) and `rows` is empty.
  void verify(Sequence& s, int64_t n, std::span<const float> rows, std::span<const LogitCandidate> best = {}) {
    const auto n_vocab = static_cast<size_t>(backend->n_vocab());
    const size_t per_row = best.empty() ? 0 : best.size() / static_cast<size_t>(n);  // [spec5]
    const std::vector<TokenId> drafts(s.tokens.begin() + s.verified(), s.tokens.end());
    const std::vector<std::vector<float>> q = std::move(s.draft_q);
    s.tokens.resize(static_cast<size_t>(s.verified()));
    s.n_draft = 0;
    s.draft_q.clear();
    s.computed += 1;  // the last verified token
    const int64_t checked = n - 1;
    s.usage.drafted_tokens += checked;
    s.usage.verify_steps += checked > 0 ? 1 : 0;
    drafted_total += static_cast<uint64_t>(checked);
    int64_t accepted = 0;
    // Greedy without penalties: p is a point mass at the argmax, so the rule reduces to "accept
    // iff the draft is the argmax, else emit the argmax" - one pass over the row, no vectors.
    const bool plain_greedy = verifies_greedy(s);
    if (per_row > 0 && !plain_greedy) return finish(s, "error", "engine: reduced logits rows for a sampled verify");  // [spec5]
    for (int64_t j = 0; j < checked; ++j) {
      const auto row = per_row > 0 ? std::span<const float>() : rows.subspan(static_cast<size_t>(j) * n_vocab, n_vocab);
      const TokenId x = drafts[static_cast<size_t>(j)];
      bool accept = false;
      TokenId replacement = -1;
      if (per_row > 0) {  // [spec5] the row's best entry is its argmax (logit_candidate.h order)
        const LogitCandidate& top = best[static_cast<size_t>(j) * per_row];
        replacement = top.id >= 0 && top.logit > -std::numeric_limits<float>::infinity() ? top.id : -1;
        if (replacement < 0) return finish(s, "error", "sampler: every logit is NaN or -inf");
        accept = replacement == x;
      } else if (plain_greedy) {
        replacement = greedy_argmax(row);
        if (replacement < 0) return finish(s, "error", "sampler: every logit is NaN or -inf");
        accept = replacement == x;
      } else {
        std::vector<float> p;
        try {
          p = s.sampler->probabilities(row);  // the request's chain, penalties over the verified history
        } catch (const std::exception& e) {
          return finish(s, "error", e.what());
        }
        const std::span<const float> qj = q[static_cast<size_t>(j)];
        accept = accept_draft_token(p, qj, x, uniform01(s.spec_rng));
        if (!accept) replacement = sample_residual(p, qj, x, uniform01(s.spec_rng));
      }
      if (accept) {
        ++accepted;
        ++s.usage.accepted_tokens;
        ++accepted_total;
        if (!push_token(s, x, row)) return;  // finished
        s.computed += 1;                     // x's K/V were computed by this slice
        continue;
      }
      SpecController::record_verify(s.spec_stats, checked, accepted);
      if (!push_token(s, replacement, row)) return;
      return after_verify(s);
    }
    SpecController::record_verify(s.spec_stats, checked, accepted);
    // Every checked draft was accepted: the last row gives the next token.
    const bool more = per_row > 0 ? on_logits(s, {}, best.subspan(static_cast<size_t>(checked) * per_row, per_row))  // [spec5]
                                  : on_logits(s, rows.subspan(static_cast<size_t>(checked) * n_vocab, n_vocab));
    if (more) after_verify(s);
  }

  // [spec5] Greedy without penalties: verification needs only each row's argmax.
  static bool verifies_greedy(const Sequence& s) {
    const SamplingParams& sp = s.sampler->params();
    return sp.temperature <= 0 && sp.repeat_penalty == 1.0f && sp.presence_penalty == 0.0f && sp.frequency_penalty == 0.0f;
  }

  // Rolls the KV of rejected drafts back (target and draft) and publishes verified full blocks.
  void after_verify(Sequence& s) {
    kv->truncate(s.table, s.computed);
    kv->publish_full_blocks(s.table, s.tokens, s.computed);
    if (draft) draft->rollback(s.draft, s.computed);
  }

  // Samples the next token of `s` and streams its text; false when `s` finished (it is gone then).
  // `best`: when not empty, the row came reduced to its best entries (`row` is then empty).
  bool on_logits(Sequence& s, std::span<const float> row, std::span<const LogitCandidate> best = {}) {
    if (s.generated() >= s.request.max_tokens) return finish(s, "length"), false;
    TokenId t = 0;
    try {
      if (!best.empty()) {
        t = s.sampler->sample_best(best);
      } else if (s.constraint) {
        s.masked.assign(row.begin(), row.end());
        s.constraint->mask(s.masked);
        t = s.sampler->sample(s.masked);
        s.constraint->accept(t);
      } else {
        t = s.sampler->sample(row);
      }
    } catch (const std::exception& e) {
      return finish(s, "error", e.what()), false;
    }
    return push_token(s, t, row);
  }

  // Appends a generated (verified) token, streams its text and checks every stop condition;
  // false when `s` finished (it is gone then). `row`: the logits it was chosen from.
  bool push_token(Sequence& s, TokenId t, std::span<const float> row) {
    const Tokenizer& tok = model->tokenizer();
    s.sampler->accept(t);
    ++tokens_generated;
    if (s.generated() == 0) s.first_token = Clock::now();
    const bool stop_token = std::find(s.request.stop_tokens.begin(), s.request.stop_tokens.end(), t) != s.request.stop_tokens.end();
    if ((!s.request.ignore_eos && tok.is_end_of_generation(t)) || stop_token) return finish(s, "stop"), false;

    s.tokens.push_back(t);  // known now; computed next step
    s.usage.completion_tokens = s.generated();
    s.pending_tokens.push_back(t);
    if (s.request.top_logprobs >= 0) s.pending_logprobs.push_back(token_logprob(row, t, s.request.top_logprobs, tok));
    const std::string text = s.stop.push(s.utf8.push(tok.token_to_piece(t)));
    if (!text.empty()) emit_delta(s, text);
    if (s.stop.matched()) return finish(s, "stop"), false;
    if (s.constraint && s.constraint->complete()) return finish(s, "stop"), false;
    if (s.generated() >= s.request.max_tokens) return finish(s, "length"), false;
    if (s.known() >= s.limit) return finish(s, "context"), false;
    return true;
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
    if (draft) draft->release(s.draft);
    RequestEvent e;
    e.kind = RequestEvent::Kind::kFinished;
    e.request_id = s.id;
    e.finish_reason = reason;
    e.error = error;
    e.usage = s.usage;
    e.usage.completion_tokens = s.generated();
    e.timings = timings_of(s);
    if (const auto joules = energy.settle(s.id, now_seconds(), energy_reader())) e.timings.energy_joules = *joules;
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
    st.steps = steps_total;
    st.step_seconds = step_seconds_total;
    st.forward_seconds = forward_seconds_total;
    st.before_forward_seconds = before_forward_seconds_total;
    st.drafted_tokens = drafted_total;
    st.accepted_tokens = accepted_total;
    st.draft_kv_blocks_total = draft ? draft->kv().pool().total() : 0;
    st.draft_kv_blocks_used = draft ? draft->kv().pool().used() : 0;
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
  if (request.spec_max_draft < 0 || request.spec_max_draft > 64) {
    throw Error(fmt::format("the draft length is 0 to 64 tokens (got {})", request.spec_max_draft));
  }
  if (request.spec == SpecMode::kDraft && !st->has_draft) {
    throw Error("speculative decoding with a draft model needs one: give a draft model (--draft) when loading the model");
  }
  // Tokenizing and rendering run here, on the caller's thread, so the engine thread never waits on them.
  BuiltPrompt prompt = build_prompt(*st->model, *st->renderer, request, st->limit, st->limit_what);

  auto s = std::make_unique<Sequence>();
  s->model_generation = st->generation;
  s->sampler = std::make_unique<Sampler>(request.sampling, st->n_vocab);
  if (request.constraint) s->constraint = request.constraint(st->model->tokenizer());
  // Constrained requests never speculate: drafts would bypass the constraint's mask.
  s->spec = s->constraint ? SpecMode::kOff : request.spec;
  if (s->spec != SpecMode::kOff) {
    s->spec_rng.seed(request.sampling.seed ^ 0x9e3779b97f4a7c15ull);
    // q of the draft model: the request's chain without penalties (which need a history).
    SamplingParams q = request.sampling;
    q.repeat_penalty = 1.0f;
    q.presence_penalty = q.frequency_penalty = 0.0f;
    if (st->has_draft && s->spec != SpecMode::kNgram) s->draft.sampler = std::make_unique<Sampler>(q, st->n_vocab);
  }
  for (TokenId t : prompt.tokens) s->sampler->accept(t);
  s->stop = StopMatcher(request.stop_strings);
  s->tokens = std::move(prompt.tokens);
  s->n_prompt = s->known();
  s->limit = st->limit;
  s->usage.prompt_tokens = s->n_prompt;
  s->usage.truncated_tokens = prompt.truncated_tokens;
  s->usage.dropped_messages = prompt.dropped_messages;
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
    ++impl_->submissions;
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
