#pragma once
// SettingsModel: the app's settings for QML (sampling, context, theme, font size), persisted in
// hearth.db (SettingsStore, keys "gui.<property>") through the StorageWorker. Loaded once at
// start (loaded() fires, also when nothing was stored); every change is saved shortly after
// (coalesced, so dragging a slider writes once), and at destruction.
#include <QtQml/qqmlregistration.h>

#include <QObject>
#include <QString>
#include <QTimer>

#include "core/engine/engine.h"

namespace hearth {

class StorageWorker;

class SettingsModel : public QObject {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("SettingsModel is created by the app")
  // Sampling (core/sampling/sampler.h SamplingParams).
  Q_PROPERTY(double temperature MEMBER temperature_ NOTIFY changed)
  Q_PROPERTY(int topK MEMBER top_k_ NOTIFY changed)
  Q_PROPERTY(double topP MEMBER top_p_ NOTIFY changed)
  Q_PROPERTY(double minP MEMBER min_p_ NOTIFY changed)
  Q_PROPERTY(double repeatPenalty MEMBER repeat_penalty_ NOTIFY changed)
  Q_PROPERTY(int seed MEMBER seed_ NOTIFY changed)  // 0: a new seed per request
  Q_PROPERTY(int maxTokens MEMBER max_tokens_ NOTIFY changed)
  // Context: positions per sequence (0: the model's default; applies at the next model load)
  // and what happens when a conversation outgrows it ("truncate": drop the oldest turns after
  // the system prompt; "error": refuse).
  Q_PROPERTY(int contextLength MEMBER context_length_ NOTIFY changed)
  // Partial offload: -1 every layer on the GPU when one is used, 0 the CPU only, N the first N.
  Q_PROPERTY(int gpuLayers MEMBER gpu_layers_ NOTIFY changed)
  Q_PROPERTY(QString overflowPolicy MEMBER overflow_policy_ NOTIFY changed)
  // Look: "system", "light", "dark"; font size in points.
  Q_PROPERTY(QString theme MEMBER theme_ NOTIFY changed)
  Q_PROPERTY(int fontSize MEMBER font_size_ NOTIFY changed)
  // Speculative decoding: "off", "ngram", "draft", "auto"; the draft model (same vocabulary as
  // the model) is loaded with the next model load.
  Q_PROPERTY(QString specMode MEMBER spec_mode_ NOTIFY changed)
  Q_PROPERTY(QString draftModelPath MEMBER draft_model_path_ NOTIFY changed)
  // The OpenAI-compatible API server, in-process on the app's engine (core/server). Allowing the
  // LAN binds 0.0.0.0 and needs an API key.
  Q_PROPERTY(bool apiEnabled MEMBER api_enabled_ NOTIFY changed)
  Q_PROPERTY(int apiPort MEMBER api_port_ NOTIFY changed)
  Q_PROPERTY(QString apiKey MEMBER api_key_ NOTIFY changed)
  Q_PROPERTY(bool apiAllowLan MEMBER api_allow_lan_ NOTIFY changed)
  Q_PROPERTY(bool loaded READ is_loaded NOTIFY loadedChanged)

 public:
  SettingsModel(StorageWorker& storage, QObject* parent = nullptr);
  ~SettingsModel() override;

  void load();  // asynchronous; loaded() when done
  bool is_loaded() const { return loaded_; }

  SamplingParams sampling() const;
  int64_t max_tokens() const { return max_tokens_; }
  int64_t context_length() const { return context_length_; }
  int64_t gpu_layers() const { return gpu_layers_ < -1 ? -1 : gpu_layers_; }
  ContextOverflow overflow() const;
  SpecMode spec_mode() const;
  // The draft model the engine should load: the path when speculation may use one, else empty.
  std::string draft_model_path() const;
  // The sampling settings as sampling_json.h's object (seed 0 stays 0: a new seed per request).
  std::string sampling_json() const;
  // Sets the sampling properties from such an object (fields absent stay).
  void apply_sampling_json(const std::string& json);
  bool api_enabled() const { return api_enabled_; }
  int api_port() const { return api_port_; }
  QString api_key() const { return api_key_; }
  bool api_allow_lan() const { return api_allow_lan_; }

  Q_INVOKABLE void resetToDefaults();

 signals:
  void changed();
  void loadedChanged();

 private:
  void schedule_save();
  void save_now();

  StorageWorker& storage_;
  QTimer save_timer_;
  bool loaded_ = false;
  bool applying_ = false;  // while stored values are applied: no save

  double temperature_ = 0.8;
  int top_k_ = 40;
  double top_p_ = 0.95;
  double min_p_ = 0.05;
  double repeat_penalty_ = 1.0;
  int seed_ = 0;
  int max_tokens_ = 512;
  int context_length_ = 0;
  int gpu_layers_ = -1;
  QString overflow_policy_ = QStringLiteral("truncate");
  QString theme_ = QStringLiteral("system");
  int font_size_ = 11;
  QString spec_mode_ = QStringLiteral("off");
  QString draft_model_path_;
  bool api_enabled_ = false;
  int api_port_ = 8080;
  QString api_key_;
  bool api_allow_lan_ = false;
};

}  // namespace hearth
