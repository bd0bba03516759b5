#include "app/gui/model_manager.h"

#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QUrl>
#include <QtConcurrent/QtConcurrentRun>
#include <optional>
#include <string>
#include <utility>

#include "app/gui/engine_host.h"
#include "app/gui/model_memory_estimate.h"
#include "app/gui/model_summary.h"
#include "app/gui/settings_model.h"
#include "app/gui/storage_worker.h"

namespace hearth {
namespace {

constexpr int kMaxRecent = 8;

QStringList parse_recent(const std::string& json) {
  QStringList out;
  for (const auto& v : QJsonDocument::fromJson(QByteArray::fromStdString(json)).array()) {
    if (v.isString()) out << v.toString();
  }
  return out;
}

}  // namespace

ModelManager::ModelManager(EngineHost& engine, StorageWorker& storage, SettingsModel& settings, QObject* parent)
    : QObject(parent), engine_(engine), storage_(storage), settings_(settings) {
  connect(&info_watcher_, &QFutureWatcher<QVariantMap>::finished, this, [this] {
    info_ = info_watcher_.result();
    emit infoChanged();
  });
  connect(&candidate_watcher_, &QFutureWatcher<QVariantMap>::finished, this, [this] {
    candidate_ = candidate_watcher_.result();
    emit candidateChanged();
  });
}

void ModelManager::inspect(const QString& path_or_url) {
  const QUrl url(path_or_url);
  const QString path = url.isLocalFile() ? url.toLocalFile() : path_or_url;
  candidate_.clear();
  emit candidateChanged();
  if (path.isEmpty()) return;
  // A newer setFuture() drops the older result (the watcher reports only the future it holds).
  candidate_watcher_.setFuture(
      QtConcurrent::run([path, context = settings_.context_length()] { return inspect_model_file(path, context); }));
}

void ModelManager::forgetRecent(const QString& path) {
  if (!recent_.removeAll(path)) return;
  emit recentModelsChanged();
  const std::string recent = QJsonDocument(QJsonArray::fromStringList(recent_)).toJson(QJsonDocument::Compact).toStdString();
  storage_.post([recent](StorageContext& s) { s.settings.set("gui.recent_models", recent); });
}

QString ModelManager::name() const { return path_.isEmpty() ? QString() : QFileInfo(path_).fileName(); }

void ModelManager::start(const QString& preferred, const QString& fallback) {
  struct Remembered {
    std::optional<std::string> last;
    std::string recent_json;
  };
  storage_.post(
      this,
      [](StorageContext& s) {
        return Remembered{s.settings.get("gui.last_model"), s.settings.get_or("gui.recent_models", "[]")};
      },
      [this, preferred, fallback](Remembered r) {
        recent_ = parse_recent(r.recent_json);
        emit recentModelsChanged();
        QString path = preferred;
        if (path.isEmpty() && r.last && QFileInfo::exists(QString::fromStdString(*r.last))) {
          path = QString::fromStdString(*r.last);
        }
        if (path.isEmpty()) path = fallback;
        if (!path.isEmpty()) {
          load(path);
        } else {
          error_ = tr("No model: open a GGUF file.");
          emit changed();
        }
      });
}

void ModelManager::load(const QString& path_or_url) {
  const QUrl url(path_or_url);
  const QString path = url.isLocalFile() ? url.toLocalFile() : path_or_url;
  const uint64_t generation = ++load_generation_;
  state_ = QStringLiteral("loading");
  path_ = path;
  progress_ = 0;
  error_.clear();
  device_reason_.clear();
  emit changed();
  info_.clear();
  emit infoChanged();
  info_watcher_.setFuture(QtConcurrent::run([path] { return read_model_summary(path); }));
  engine_.load_model(path.toStdString(), settings_.context_length(), [this, generation, path](const ModelEvent& e) {
    if (generation != load_generation_) return;
    switch (e.kind) {
      case ModelEvent::Kind::kProgress:
        progress_ = e.progress;
        break;
      case ModelEvent::Kind::kLoaded:
        state_ = QStringLiteral("ready");
        progress_ = 1;
        device_reason_ = QString::fromStdString(e.message);
        remember(path);
        emit loaded();
        break;
      case ModelEvent::Kind::kFailed:
        state_ = QStringLiteral("failed");
        error_ = tr("Could not load %1: %2").arg(QFileInfo(path).fileName(), QString::fromStdString(e.message));
        emit failed(error_);
        break;
      case ModelEvent::Kind::kUnloaded:
        state_ = QStringLiteral("none");
        break;
    }
    emit changed();
  });
}

void ModelManager::unload() {
  const uint64_t generation = ++load_generation_;
  engine_.unload_model([this, generation](const ModelEvent& e) {
    if (generation != load_generation_) return;
    if (e.kind == ModelEvent::Kind::kFailed) {
      error_ = QString::fromStdString(e.message);
    } else {
      state_ = QStringLiteral("none");
      path_.clear();
      progress_ = 0;
      device_reason_.clear();
    }
    emit changed();
  });
}

void ModelManager::remember(const QString& path) {
  recent_.removeAll(path);
  recent_.prepend(path);
  while (recent_.size() > kMaxRecent) recent_.removeLast();
  emit recentModelsChanged();
  const std::string last = path.toStdString();
  const std::string recent = QJsonDocument(QJsonArray::fromStringList(recent_)).toJson(QJsonDocument::Compact).toStdString();
  storage_.post([last, recent](StorageContext& s) {
    s.settings.set("gui.last_model", last);
    s.settings.set("gui.recent_models", recent);
  });
}

}  // namespace hearth
