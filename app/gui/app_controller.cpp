#include "app/gui/app_controller.h"

#include <QClipboard>
#include <QGuiApplication>
#include <QQmlEngine>
#include <spdlog/spdlog.h>

#include "hearth/version.h"
#include "storage/sqlite_kv_store.h"

namespace hearth {
namespace {

EngineOptions engine_options(const GuiConfig& config) {
  EngineOptions o;
  o.backend.n_threads = config.n_threads;
  o.max_running = 4;  // one chat plus regenerations left behind; the GUI is one user
  o.backend_factory = config.backend_factory;  // empty outside tests
  return o;
}

}  // namespace

AppController::AppController(GuiConfig config, QObject* parent) : QObject(parent), config_(resolved(std::move(config))) {
  storage_ = std::make_unique<StorageWorker>(config_.db_path);
  engine_ = std::make_unique<EngineHost>(engine_options(config_));
  settings_ = std::make_unique<SettingsModel>(*storage_);
  models_ = std::make_unique<ModelManager>(*engine_, *storage_, *settings_);
  downloads_ = std::make_unique<DownloadManager>(QString::fromStdString((config_.data_dir / "models").string()),
                                                 DownloadPolicy{}, bundled_model_catalog());
  QQmlEngine::setObjectOwnership(downloads_.get(), QQmlEngine::CppOwnership);
  conversations_ = std::make_unique<ConversationListModel>(*storage_);
  chat_ = std::make_unique<ChatSession>(*engine_, *storage_, *settings_, *models_);
  transfer_ = std::make_unique<ConversationTransfer>(*storage_);
  presets_ = std::make_unique<PresetListModel>(*storage_, *settings_, *chat_);
  api_server_ = std::make_unique<ApiServerHost>(*engine_, *models_, *settings_);
  // QML must never take ownership of these (they are owned here).
  for (QObject* o : {static_cast<QObject*>(engine_.get()), static_cast<QObject*>(settings_.get()),
                     static_cast<QObject*>(models_.get()), static_cast<QObject*>(conversations_.get()),
                     static_cast<QObject*>(chat_.get()), static_cast<QObject*>(chat_->messages()),
                     static_cast<QObject*>(transfer_.get()), static_cast<QObject*>(presets_.get()),
                     static_cast<QObject*>(api_server_.get())}) {
    QQmlEngine::setObjectOwnership(o, QQmlEngine::CppOwnership);
  }

  connect(storage_.get(), &StorageWorker::failed, this, [this](const QString& message) {
    storage_error_ = message;
    emit storageErrorChanged();
  });
  connect(chat_.get(), &ChatSession::conversationsTouched, conversations_.get(), &ConversationListModel::refresh);
  connect(conversations_.get(), &ConversationListModel::removed, chat_.get(), &ChatSession::forget);
  connect(transfer_.get(), &ConversationTransfer::imported, this, [this](qint64 id) {
    conversations_->refresh();
    chat_->open(id);
  });
  // The draft model (speculative decoding) is loaded with the next model load.
  // So are the GPU layers (partial offload).
  auto apply_load_settings = [this] {
    engine_->set_draft_model_path(settings_->draft_model_path());
    engine_->set_gpu_layers(settings_->gpu_layers());
  };
  connect(settings_.get(), &SettingsModel::changed, this, apply_load_settings);

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
  presets_->refresh();
  chat_->restore_last();
}

AppController::~AppController() {
  api_server_.reset();  // stops serving before anything it uses goes
  presets_.reset();
  transfer_.reset();
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

QString AppController::version() { return QString::fromLatin1(kVersion); }

void AppController::copyText(const QString& text) {
  if (auto* clipboard = QGuiApplication::clipboard()) clipboard->setText(text);
}

void AppController::clearStorageError() {
  storage_error_.clear();
  emit storageErrorChanged();
}

}  // namespace hearth
