#pragma once
// ApiServerHost: the OpenAI-compatible HTTP API (core/server, the same server as
// `hearth-cli serve`) run in-process on the app's Engine while the setting is on.
//
// It follows the settings (apiEnabled, apiPort, apiKey, apiAllowLan) and the model: it runs
// only while a model is ready, stops before the engine is replaced (EngineHost's
// engineAboutToReset) and starts again once the next model is loaded. The server lives on its
// own thread (it opens the model file for the chat template and token names, binds and serves
// there), so the GUI thread never waits on the network; start errors (port in use, LAN without
// a key) are shown through `error`.
#include <QtQml/qqmlregistration.h>

#include <QObject>
#include <QString>
#include <QTimer>
#include <memory>

namespace hearth {

class EngineHost;
class ModelManager;
class SettingsModel;

class ApiServerHost : public QObject {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("ApiServerHost is created by the app")
  Q_PROPERTY(QString state READ state NOTIFY changed)   // "off", "starting", "running", "failed"
  Q_PROPERTY(int port READ port NOTIFY changed)         // the bound port while running
  Q_PROPERTY(QString url READ url NOTIFY changed)       // "http://127.0.0.1:8080/v1" while running
  Q_PROPERTY(QString error READ error NOTIFY changed)

 public:
  ApiServerHost(EngineHost& engine, ModelManager& models, SettingsModel& settings, QObject* parent = nullptr);
  ~ApiServerHost() override;  // stops the server (joins its thread)

  QString state() const { return state_; }
  int port() const { return port_; }
  QString url() const;
  QString error() const { return error_; }

 signals:
  void changed();

 private:
  struct Running;
  struct Wanted {
    bool enabled = false;
    int port = 0;
    std::string key;
    bool lan = false;
    std::string model_path;
    bool operator==(const Wanted&) const = default;
  };

  Wanted wanted() const;
  void reconcile();  // starts, stops or restarts to match the settings and the model
  void start(const Wanted& w);
  void stop();
  void set_state(const QString& state, int port, const QString& error);

  EngineHost& engine_;
  ModelManager& models_;
  SettingsModel& settings_;
  QTimer reconcile_timer_;  // settings typed into a field settle before a restart
  std::unique_ptr<Running> running_;
  Wanted current_;          // what running_ was started with
  uint64_t generation_ = 0; // a stopped server's late reports are ignored
  QString state_ = QStringLiteral("off");
  int port_ = 0;
  QString error_;
};

}  // namespace hearth
