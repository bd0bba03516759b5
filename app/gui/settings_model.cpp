#include "app/gui/settings_model.h"

#include <QMetaProperty>
#include <QRandomGenerator>
#include <algorithm>
#include <map>
#include <string>

#include "app/gui/sampling_json.h"
#include "app/gui/storage_worker.h"

namespace hearth {
namespace {

// The persisted properties: their stored key is "gui." + name.
constexpr const char* kPersisted[] = {"temperature", "topK",          "topP",           "minP",
                                      "repeatPenalty", "seed",        "maxTokens",      "contextLength",
                                      "overflowPolicy", "theme",      "fontSize",       "specMode",
                                      "draftModelPath", "apiEnabled", "apiPort",        "apiKey",
                                      "apiAllowLan",   "gpuLayers"};

std::string key_of(const char* name) { return std::string("gui.") + name; }

}  // namespace

SettingsModel::SettingsModel(StorageWorker& storage, QObject* parent) : QObject(parent), storage_(storage) {
  save_timer_.setSingleShot(true);
  save_timer_.setInterval(300);
  connect(&save_timer_, &QTimer::timeout, this, &SettingsModel::save_now);
  connect(this, &SettingsModel::changed, this, &SettingsModel::schedule_save);
}

SettingsModel::~SettingsModel() {
  if (save_timer_.isActive()) save_now();  // posted before the worker (destroyed later) drains
}

void SettingsModel::load() {
  storage_.post(
      this,
      [](StorageContext& s) {
        std::map<std::string, std::string> values;
        for (const char* name : kPersisted) {
          if (auto v = s.settings.get(key_of(name))) values[name] = *v;
        }
        return values;
      },
      [this](std::map<std::string, std::string> values) {
        applying_ = true;
        for (const auto& [name, value] : values) setProperty(name.c_str(), QString::fromStdString(value));
        applying_ = false;
        loaded_ = true;
        emit changed();
        emit loadedChanged();
      });
}

void SettingsModel::schedule_save() {
  if (!applying_ && loaded_) save_timer_.start();
}

void SettingsModel::save_now() {
  save_timer_.stop();
  std::map<std::string, std::string> values;
  for (const char* name : kPersisted) values[key_of(name)] = property(name).toString().toStdString();
  storage_.post([values](StorageContext& s) {
    auto tx = s.db.transaction();
    for (const auto& [key, value] : values) s.settings.set(key, value);
    tx.commit();
  });
}

void SettingsModel::resetToDefaults() {
  SettingsModel defaults(storage_);
  for (const char* name : kPersisted) setProperty(name, defaults.property(name));
  defaults.save_timer_.stop();
  emit changed();
}

SamplingParams SettingsModel::sampling() const {
  SamplingParams p;
  p.temperature = static_cast<float>(temperature_);
  p.top_k = top_k_;
  p.top_p = static_cast<float>(top_p_);
  p.min_p = static_cast<float>(min_p_);
  p.repeat_penalty = static_cast<float>(repeat_penalty_);
  p.seed = seed_ > 0 ? static_cast<uint64_t>(seed_) : QRandomGenerator::global()->generate64();
  return p;
}

ContextOverflow SettingsModel::overflow() const {
  return overflow_policy_ == QLatin1String("error") ? ContextOverflow::kError : ContextOverflow::kTruncateMiddle;
}

SpecMode SettingsModel::spec_mode() const {
  return parse_spec_mode(spec_mode_.toStdString()).value_or(SpecMode::kOff);
}

std::string SettingsModel::draft_model_path() const {
  const SpecMode mode = spec_mode();
  if (mode != SpecMode::kDraft && mode != SpecMode::kAuto) return {};
  return draft_model_path_.trimmed().toStdString();
}

std::string SettingsModel::sampling_json() const {
  SamplingParams p = sampling();
  p.seed = seed_ > 0 ? static_cast<uint64_t>(seed_) : 0;
  return sampling_to_json(p);
}

void SettingsModel::apply_sampling_json(const std::string& json) {
  SamplingParams base = sampling();
  base.seed = seed_ > 0 ? static_cast<uint64_t>(seed_) : 0;
  const SamplingParams p = sampling_with_json(base, json);
  temperature_ = p.temperature;
  top_k_ = p.top_k;
  top_p_ = p.top_p;
  min_p_ = p.min_p;
  repeat_penalty_ = p.repeat_penalty;
  seed_ = static_cast<int>(std::min<uint64_t>(p.seed, 0x7fffffff));
  emit changed();
}

}  // namespace hearth
