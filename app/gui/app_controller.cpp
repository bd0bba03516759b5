#include "app/gui/app_controller.h"

#include <QClipboard>
#include <QGuiApplication>
#include <QQmlEngine>
#include <spdlog/spdlog.h>

#include "storage/sqlite_kv_store.h"

namespace hearth {
namespace {

EngineOptions engine_options(const GuiConfig& config) {
  EngineOptions o;
  o.backend.n_threads = config.n_threads;
  o.max_running = 4;  // one chat plus regenerations left behind; the GUI is one user
  return o;
}

}  // namespace

AppController::AppController(GuiConfig config, QObject* parent) : QObject(parent), config_(resolved(std::move(config))) {
  storage_ = std::make_unique<StorageWorker>(config_.db_path);
  engine_ = std::make_unique<EngineHost>(engine_options(config_));
  settings_ = std::make_unique<SettingsModel>(*storage_);
  models_ = std::make_unique<ModelManager>(*engine_, *storage_, *settings_);
  conversations_ = std::make_unique<ConversationListModel>(*storage_);
  chat_ = std::make_unique<ChatSession>(*engine_, *storage_, *settings_, *models_);
  // QML must never take ownership of these (they are owned here).
  for (QObject* o : {static_cast<QObject*>(engine_.get()), static_cast<QObject*>(settings_.get()),
                     static_cast<QObject*>(models_.get()), static_cast<QObject*>(conversations_.get()),
                     static_cast<QObject*>(chat_.get()), static_cast<QObject*>(chat_->messages())}) {
    QQmlEngine::setObjectOwnership(o, QQmlEngine::CppOwnership);
  }

  connect(storage_.get(), &StorageWorker::failed, this, [this](const QString& message) {
    storage_error_ = message;
    emit storageErrorChanged();
  });
  connect(chat_.get(), &ChatSession::conversationsTouched, conversations_.get(), &ConversationListModel::refresh);
  connect(conversations_.get(), &ConversationListModel::removed, chat_.get(), &ChatSession::forget);

  // The persistent prefix cache (kv-cache.db beside hearth.db), opened on the worker thread; the
  // engine runs without it when it cannot be opened. Posted first, so it is set before the
  // settings arrive and the model loads.
  storage_->post(
      this,
      [path = config_.data_dir / "kv-cache.db"](StorageContext& s) -> std::shared_ptr<KvStore> {
        try {
          return std::make_shared<SqliteKvStore>(path, kv_store_options_from_settings(s.settings));
        } catch (const std::exception& e) {
          spdlog::warn("persistent prefix cache off: {}", e.what());
          return nullptr;
        }
      },
      [this](std::shared_ptr<KvStore> store) { engine_->set_kv_store(std::move(store)); });

  // Start: settings first (the context length decides how the model loads).
  connect(settings_.get(), &SettingsModel::loadedChanged, this, [this] {
    models_->start(QString::fromStdString(config_.model_path), QString::fromStdString(bundled_model_path().string()));
  }, Qt::SingleShotConnection);
  settings_->load();
  conversations_->refresh();
  chat_->restore_last();
}

AppController::~AppController() {
  chat_.reset();
  conversations_.reset();
  models_.reset();
  settings_.reset();   // posts its last save
  // Joins the engine thread; the prefix cache is closed on the worker thread.
  if (std::shared_ptr<KvStore> kv = engine_->take_kv_store()) {
    storage_->post([kv](StorageContext&) mutable { kv.reset(); });
  }
  engine_.reset();
  storage_.reset();    // runs what was posted, closes the database
}

void AppController::copyText(const QString& text) {
  if (auto* clipboard = QGuiApplication::clipboard()) clipboard->setText(text);
}

void AppController::clearStorageError() {
  storage_error_.clear();
  emit storageErrorChanged();
}

}  // namespace hearth
