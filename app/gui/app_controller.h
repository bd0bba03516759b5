#pragma once
// AppController: the composition root of the desktop app. Owns the storage worker, the engine
// host and the models QML binds to, wires them, and starts up (settings, then the model, the
// conversation list and the last conversation). Handed to Main.qml as its required property
// `app` (an initial property: no context properties, no singletons).
//
// Destruction order matters: the session and models go first (their pending work is dropped),
// then the engine (joins its thread), then the storage worker (runs the writes already posted).
#include <QtQml/qqmlregistration.h>

#include <QObject>
#include <QString>
#include <memory>

#include "app/gui/api_server_host.h"
#include "app/gui/chat_session.h"
#include "app/gui/conversation_transfer.h"
#include "app/gui/conversation_list_model.h"
#include "app/gui/download_manager.h"
#include "app/gui/engine_host.h"
#include "app/gui/gui_config.h"
#include "app/gui/model_manager.h"
#include "app/gui/preset_list_model.h"
#include "app/gui/settings_model.h"
#include "app/gui/storage_worker.h"

namespace hearth {

class AppController : public QObject {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("AppController is created by main()")
  Q_PROPERTY(ChatSession* chat READ chat CONSTANT)
  Q_PROPERTY(ConversationListModel* conversations READ conversations CONSTANT)
  Q_PROPERTY(SettingsModel* settings READ settings CONSTANT)
  Q_PROPERTY(ModelManager* models READ models CONSTANT)
  Q_PROPERTY(DownloadManager* downloads READ downloads CONSTANT)  // model downloads (Models dialog)
  Q_PROPERTY(EngineHost* engine READ engine CONSTANT)
  Q_PROPERTY(ConversationTransfer* transfer READ transfer CONSTANT)
  Q_PROPERTY(PresetListModel* presets READ presets CONSTANT)
  Q_PROPERTY(ApiServerHost* apiServer READ api_server CONSTANT)
  Q_PROPERTY(QString storageError READ storage_error NOTIFY storageErrorChanged)
  Q_PROPERTY(QString version READ version CONSTANT)  // hearth::kVersion

 public:
  explicit AppController(GuiConfig config, QObject* parent = nullptr);
  ~AppController() override;

  ChatSession* chat() { return chat_.get(); }
  ConversationListModel* conversations() { return conversations_.get(); }
  SettingsModel* settings() { return settings_.get(); }
  ModelManager* models() { return models_.get(); }
  DownloadManager* downloads() { return downloads_.get(); }
  EngineHost* engine() { return engine_.get(); }
  ConversationTransfer* transfer() { return transfer_.get(); }
  PresetListModel* presets() { return presets_.get(); }
  ApiServerHost* api_server() { return api_server_.get(); }
  static QString version();
  StorageWorker& storage() { return *storage_; }
  QString storage_error() const { return storage_error_; }
  const GuiConfig& config() const { return config_; }

  Q_INVOKABLE void copyText(const QString& text);
  Q_INVOKABLE void clearStorageError();

 signals:
  void storageErrorChanged();

 private:
  GuiConfig config_;
  QString storage_error_;
  // Declared in construction order; destroyed in reverse (see the header comment).
  std::unique_ptr<StorageWorker> storage_;
  std::unique_ptr<EngineHost> engine_;
  std::unique_ptr<SettingsModel> settings_;
  std::unique_ptr<ModelManager> models_;
  std::unique_ptr<DownloadManager> downloads_;  // into <data_dir>/models
  std::unique_ptr<ConversationListModel> conversations_;
  std::unique_ptr<ChatSession> chat_;
  std::unique_ptr<ConversationTransfer> transfer_;
  std::unique_ptr<PresetListModel> presets_;
  std::unique_ptr<ApiServerHost> api_server_;  // first to go: it serves from engine_
};

}  // namespace hearth
