#pragma once
// EngineHost: owns the Engine for the GUI and turns its events into GUI-thread calls.
//
// Engine sinks run on the engine thread; they only append the event to a lock-protected buffer
// (and, for the first event of a batch, queue one flush). The flush runs on the GUI thread at
// most once per frame interval (kFlushIntervalMs), merging consecutive deltas of a request into
// one, so a fast stream costs one model update per frame, not one per token.
//
// Also publishes the engine's counters for the status bar (polled twice a second).
#include <QtQml/qqmlregistration.h>

#include <QObject>
#include <QString>
#include <QTimer>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <variant>

#include "core/engine/engine.h"

namespace hearth {

class EngineHost : public QObject {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("EngineHost is created by the app")
  Q_PROPERTY(QString device READ device NOTIFY statsChanged)
  Q_PROPERTY(qint64 kvBlocksUsed READ kv_blocks_used NOTIFY statsChanged)
  Q_PROPERTY(qint64 kvBlocksTotal READ kv_blocks_total NOTIFY statsChanged)
  Q_PROPERTY(double prefixHitRate READ prefix_hit_rate NOTIFY statsChanged)
  Q_PROPERTY(qint64 running READ running NOTIFY statsChanged)
  Q_PROPERTY(double lastTokensPerSecond READ last_tokens_per_second NOTIFY statsChanged)

 public:
  static constexpr int kFlushIntervalMs = 16;  // about one frame at 60 Hz

  using RequestHandler = std::function<void(const RequestEvent&)>;  // GUI thread
  using ModelHandler = std::function<void(const ModelEvent&)>;      // GUI thread

  explicit EngineHost(EngineOptions options, QObject* parent = nullptr);
  ~EngineHost() override;

  // Loads `path` with `context_size` positions (0: model default). A different context size
  // than the current engine's builds a new Engine (the context is fixed per Engine).
  void load_model(const std::string& path, int64_t context_size, ModelHandler handler);
  void unload_model(ModelHandler handler);
  // Engine::submit; throws what it throws (no model, prompt too long, queue full).
  uint64_t submit(Request request, RequestHandler handler);
  void cancel(uint64_t request_id);
  bool has_engine() const { return engine_ != nullptr; }
  // The engine itself, for the in-process API server (valid until engineAboutToReset()).
  Engine* engine() { return engine_.get(); }
  // The draft model for speculative decoding, loaded with the next load_model() (empty: none).
  void set_draft_model_path(std::string path) { options_.draft_model_path = std::move(path); }
  // Layers on the GPU (BackendOptions::gpu_layers: -1 all, 0 none, N the first N), from the next
  // load_model() on.
  void set_gpu_layers(int64_t layers) { options_.backend.gpu_layers = layers; }
  // The persistent prefix cache for the engines built from now on (opened by the caller off the
  // GUI thread). take_kv_store() ends the engine first, then hands the store back (so that it
  // can be closed off the GUI thread too).
  void set_kv_store(std::shared_ptr<KvStore> store) { kv_store_ = std::move(store); }
  std::shared_ptr<KvStore> take_kv_store();

  // For tests: how many flushes delivered at least one delta.
  int delta_flushes() const { return delta_flushes_; }

  QString device() const { return device_; }
  qint64 kv_blocks_used() const { return stats_.kv_blocks_used; }
  qint64 kv_blocks_total() const { return stats_.kv_blocks_total; }
  double prefix_hit_rate() const { return stats_.prefix_hit_rate; }
  qint64 running() const { return stats_.running; }
  double last_tokens_per_second() const { return last_tokens_per_second_; }

 signals:
  void statsChanged();
  // Emitted (directly, on the GUI thread) right before the engine is destroyed or replaced:
  // whoever holds engine() lets go of it now.
  void engineAboutToReset();

 private:
  using Event = std::variant<RequestEvent, ModelEvent>;
  struct Queued {
    uint64_t key = 0;  // our handler key (not the engine's request id: a sink may fire before
                       // submit() returns it)
    Event event;
  };

  void push(uint64_t key, Event event);  // engine thread
  void schedule_flush();                 // GUI thread
  void flush();                          // GUI thread
  void poll_stats();
  void ensure_engine(int64_t context_size);

  EngineOptions options_;
  std::shared_ptr<KvStore> kv_store_;  // outlives engine_ (declared before it)
  int64_t context_size_ = -1;
  std::string built_draft_path_;  // the draft model of engine_
  int64_t built_gpu_layers_ = -1;  // the gpu_layers of engine_

  std::mutex mutex_;
  std::deque<Queued> buffer_;     // guarded by mutex_
  bool flush_queued_ = false;     // guarded by mutex_

  uint64_t next_key_ = 1;
  std::unordered_map<uint64_t, RequestHandler> request_handlers_;
  std::unordered_map<uint64_t, ModelHandler> model_handlers_;
  QTimer flush_timer_;
  QTimer stats_timer_;
  EngineStats stats_;
  QString device_;
  double last_tokens_per_second_ = 0;
  int delta_flushes_ = 0;

  std::unique_ptr<Engine> engine_;  // reset first in the destructor: its thread calls push()
};

}  // namespace hearth
