#pragma once
// ModelManager: which model the engine runs, for QML. Opens a GGUF file (a path or a file://
// URL), shows load progress, the device and why it was chosen (e.g. the CUDA fallback reason),
// or the error when loading failed; remembers the last model and a short recent list
// (settings "gui.last_model", "gui.recent_models": JSON array of paths).
#include <QtQml/qqmlregistration.h>

#include <QFutureWatcher>
#include <QObject>
#include <QString>
#include <QStringList>
#include <QVariantMap>
#include <string>

namespace hearth {

class EngineHost;
class SettingsModel;
class StorageWorker;

class ModelManager : public QObject {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("ModelManager is created by the app")
  Q_PROPERTY(QString state READ state NOTIFY changed)          // "none", "loading", "ready", "failed"
  Q_PROPERTY(QString path READ path NOTIFY changed)
  Q_PROPERTY(QString name READ name NOTIFY changed)            // file name
  Q_PROPERTY(double progress READ progress NOTIFY changed)     // 0..1 while loading
  Q_PROPERTY(QString deviceReason READ device_reason NOTIFY changed)
  Q_PROPERTY(QString error READ error NOTIFY changed)
  Q_PROPERTY(QStringList recentModels READ recent_models NOTIFY recentModelsChanged)
  Q_PROPERTY(bool ready READ ready NOTIFY changed)
  // read_model_summary() of the model opened last (empty while it is read).
  Q_PROPERTY(QVariantMap info READ info NOTIFY infoChanged)
  // inspect_model_file() of the file given to inspect(): the model info plus the memory estimate
  // for the current context length ("memory"), before loading it. Empty while it is read.
  Q_PROPERTY(QVariantMap candidate READ candidate NOTIFY candidateChanged)

 public:
  ModelManager(EngineHost& engine, StorageWorker& storage, SettingsModel& settings, QObject* parent = nullptr);

  // Reads the recent list and, when `preferred` is empty, loads the last model if its file still
  // exists, else `fallback` (the bundled model).
  void start(const QString& preferred, const QString& fallback);

  Q_INVOKABLE void load(const QString& path_or_url);
  Q_INVOKABLE void unload();
  // Reads `path_or_url`'s info and memory estimate off the GUI thread into `candidate`.
  Q_INVOKABLE void inspect(const QString& path_or_url);
  // Drops `path` from the recent list.
  Q_INVOKABLE void forgetRecent(const QString& path);

  QString state() const { return state_; }
  QString path() const { return path_; }
  QString name() const;
  double progress() const { return progress_; }
  QString device_reason() const { return device_reason_; }
  QString error() const { return error_; }
  QStringList recent_models() const { return recent_; }
  bool ready() const { return state_ == QLatin1String("ready"); }
  QVariantMap info() const { return info_; }
  QVariantMap candidate() const { return candidate_; }

 signals:
  void changed();
  void recentModelsChanged();
  void infoChanged();
  void candidateChanged();
  void loaded();               // the model is ready
  void failed(const QString& error);

 private:
  void remember(const QString& path);

  EngineHost& engine_;
  StorageWorker& storage_;
  SettingsModel& settings_;
  QString state_ = QStringLiteral("none");
  QString path_;
  double progress_ = 0;
  QString device_reason_;
  QString error_;
  QStringList recent_;
  QVariantMap info_;
  QFutureWatcher<QVariantMap> info_watcher_;  // reads the summary on the thread pool
  QVariantMap candidate_;
  QFutureWatcher<QVariantMap> candidate_watcher_;
  uint64_t load_generation_ = 0;  // a newer load() makes the events of an older one stale
};

}  // namespace hearth
