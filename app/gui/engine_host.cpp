#include "app/gui/engine_host.h"

#include <utility>
#include <vector>

namespace hearth {

EngineHost::EngineHost(EngineOptions options, QObject* parent)
    : QObject(parent), options_(std::move(options)) {
  flush_timer_.setSingleShot(true);
  flush_timer_.setInterval(kFlushIntervalMs);
  connect(&flush_timer_, &QTimer::timeout, this, &EngineHost::flush);
  stats_timer_.setInterval(500);
  connect(&stats_timer_, &QTimer::timeout, this, &EngineHost::poll_stats);
  stats_timer_.start();
}

EngineHost::~EngineHost() {
  // Joins the engine thread (it cancels what is in flight); its last pushes queue flushes that
  // are dropped with this object.
  engine_.reset();
}

void EngineHost::ensure_engine(int64_t context_size) {
  if (engine_ && context_size == context_size_ && options_.draft_model_path == built_draft_path_ &&
      options_.backend.gpu_layers == built_gpu_layers_) {
    return;
  }
  if (engine_) emit engineAboutToReset();
  engine_.reset();  // in-flight requests finish "cancelled" through push()
  built_draft_path_ = options_.draft_model_path;
  built_gpu_layers_ = options_.backend.gpu_layers;
  EngineOptions options = options_;
  options.backend.context_size = context_size;
  options.kv_store = kv_store_.get();
  engine_ = std::make_unique<Engine>(std::move(options));
  context_size_ = context_size;
}

std::shared_ptr<KvStore> EngineHost::take_kv_store() {
  if (engine_) emit engineAboutToReset();
  engine_.reset();
  context_size_ = -1;
  return std::move(kv_store_);
}

void EngineHost::load_model(const std::string& path, int64_t context_size, ModelHandler handler) {
  ensure_engine(context_size);
  const uint64_t key = next_key_++;
  model_handlers_[key] = std::move(handler);
  engine_->load_model(path, [this, key](const ModelEvent& e) { push(key, e); });
}

void EngineHost::unload_model(ModelHandler handler) {
  const uint64_t key = next_key_++;
  model_handlers_[key] = std::move(handler);
  if (!engine_) {
    ModelEvent e;
    e.kind = ModelEvent::Kind::kUnloaded;
    push(key, e);
    return;
  }
  engine_->unload_model([this, key](const ModelEvent& e) { push(key, e); });
}

uint64_t EngineHost::submit(Request request, RequestHandler handler) {
  if (!engine_) throw Error("no model is loaded");
  const uint64_t key = next_key_++;
  request_handlers_[key] = std::move(handler);
  try {
    return engine_->submit(std::move(request), [this, key](const RequestEvent& e) { push(key, e); });
  } catch (...) {
    request_handlers_.erase(key);
    throw;
  }
}

void EngineHost::cancel(uint64_t request_id) {
  if (engine_) engine_->cancel(request_id);
}

void EngineHost::push(uint64_t key, Event event) {
  bool queue_flush = false;
  {
    std::lock_guard lock(mutex_);
    buffer_.push_back({key, std::move(event)});
    queue_flush = !flush_queued_;
    flush_queued_ = true;
  }
  if (queue_flush) QMetaObject::invokeMethod(this, &EngineHost::schedule_flush, Qt::QueuedConnection);
}

void EngineHost::schedule_flush() {
  if (!flush_timer_.isActive()) flush_timer_.start();
}

void EngineHost::flush() {
  std::deque<Queued> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(buffer_);
    flush_queued_ = false;
  }
  // Merge runs of deltas per request: [Started, D, D, D, Finished] -> [Started, D, Finished].
  std::vector<Queued> merged;
  std::unordered_map<uint64_t, size_t> last_delta;  // key -> index in merged of its open delta
  for (Queued& q : batch) {
    auto* re = std::get_if<RequestEvent>(&q.event);
    if (re && re->kind == RequestEvent::Kind::kDelta) {
      auto it = last_delta.find(q.key);
      if (it != last_delta.end()) {
        auto& into = std::get<RequestEvent>(merged[it->second].event);
        into.text += re->text;
        into.tokens.insert(into.tokens.end(), re->tokens.begin(), re->tokens.end());
        into.logprobs.insert(into.logprobs.end(), re->logprobs.begin(), re->logprobs.end());
        continue;
      }
      last_delta[q.key] = merged.size();
    } else {
      last_delta.erase(q.key);
    }
    merged.push_back(std::move(q));
  }

  bool any_delta = false;
  for (Queued& q : merged) {
    if (auto* re = std::get_if<RequestEvent>(&q.event)) {
      auto it = request_handlers_.find(q.key);
      if (it == request_handlers_.end()) continue;
      const bool finished = re->kind == RequestEvent::Kind::kFinished;
      any_delta |= re->kind == RequestEvent::Kind::kDelta;
      if (finished && re->timings.decode_tokens_per_second > 0) {
        last_tokens_per_second_ = re->timings.decode_tokens_per_second;
        emit statsChanged();
      }
      RequestHandler handler = finished ? std::move(it->second) : it->second;
      if (finished) request_handlers_.erase(it);
      handler(*re);  // may submit or cancel: handlers_ is not iterated here
    } else {
      auto& me = std::get<ModelEvent>(q.event);
      auto it = model_handlers_.find(q.key);
      if (it == model_handlers_.end()) continue;
      const bool final = me.kind != ModelEvent::Kind::kProgress;
      ModelHandler handler = final ? std::move(it->second) : it->second;
      if (final) model_handlers_.erase(it);
      handler(me);
      if (final) poll_stats();
    }
  }
  if (any_delta) ++delta_flushes_;
}

void EngineHost::poll_stats() {
  if (!engine_) return;
  EngineStats s = engine_->stats();
  const QString device = QString::fromStdString(s.device);
  const bool changed = s.kv_blocks_used != stats_.kv_blocks_used || s.kv_blocks_total != stats_.kv_blocks_total ||
                       s.prefix_hit_rate != stats_.prefix_hit_rate || s.running != stats_.running ||
                       device != device_ || s.tokens_generated != stats_.tokens_generated;
  stats_ = std::move(s);
  device_ = device;
  if (changed) emit statsChanged();
}

}  // namespace hearth
