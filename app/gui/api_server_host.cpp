#include "app/gui/api_server_host.h"

#include <QPointer>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <spdlog/spdlog.h>
#include <thread>

#include "app/gui/engine_host.h"
#include "app/gui/model_manager.h"
#include "app/gui/settings_model.h"
#include "core/model/loaded_model.h"
#include "core/server/http_server.h"
#include "core/tokenizer/chat_template/chat_renderer.h"

namespace hearth {

// One server run: its thread and, once bound, the server (owned here so stop() can reach it).
struct ApiServerHost::Running {
  std::mutex mutex;
  std::unique_ptr<server::HttpServer> http;  // guarded by mutex
  bool stop_requested = false;               // guarded by mutex
  std::atomic<bool> finished{false};
  std::thread thread;
};

namespace {

int64_t file_time(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_mtime) : 0;
}

}  // namespace

ApiServerHost::ApiServerHost(EngineHost& engine, ModelManager& models, SettingsModel& settings, QObject* parent)
    : QObject(parent), engine_(engine), models_(models), settings_(settings) {
  reconcile_timer_.setSingleShot(true);
  reconcile_timer_.setInterval(400);
  connect(&reconcile_timer_, &QTimer::timeout, this, &ApiServerHost::reconcile);
  connect(&settings_, &SettingsModel::changed, &reconcile_timer_, qOverload<>(&QTimer::start));
  connect(&models_, &ModelManager::changed, this, &ApiServerHost::reconcile);
  // Direct: the engine is destroyed right after this returns.
  connect(&engine_, &EngineHost::engineAboutToReset, this, &ApiServerHost::stop, Qt::DirectConnection);
}

ApiServerHost::~ApiServerHost() { stop(); }

QString ApiServerHost::url() const {
  if (state_ != QLatin1String("running")) return {};
  return QStringLiteral("http://%1:%2/v1").arg(current_.lan ? QStringLiteral("0.0.0.0") : QStringLiteral("127.0.0.1")).arg(port_);
}

ApiServerHost::Wanted ApiServerHost::wanted() const {
  Wanted w;
  w.enabled = settings_.is_loaded() && settings_.api_enabled() && models_.ready() && engine_.has_engine();
  w.port = settings_.api_port();
  w.key = settings_.api_key().toStdString();
  w.lan = settings_.api_allow_lan();
  w.model_path = models_.path().toStdString();
  return w;
}

void ApiServerHost::reconcile() {
  const Wanted w = wanted();
  if (running_ && w == current_) return;
  if (!running_ && !w.enabled) {
    // Off, or waiting for a model: a failure stays shown until the settings change.
    if (state_ != QLatin1String("failed") || !settings_.api_enabled()) set_state(QStringLiteral("off"), 0, {});
    return;
  }
  if (!running_ && state_ == QLatin1String("failed") && w == current_) return;  // same settings: same error
  stop();
  if (w.enabled) start(w);
}

void ApiServerHost::start(const Wanted& w) {
  current_ = w;
  if (w.port < 0 || w.port > 65535) return set_state(QStringLiteral("failed"), 0, tr("Port %1 is not a valid port.").arg(w.port));
  if (w.lan && w.key.empty()) {
    return set_state(QStringLiteral("failed"), 0, tr("Allowing the local network needs an API key."));
  }
  server::ServerOptions so;
  so.host = w.lan ? "0.0.0.0" : "127.0.0.1";
  so.port = w.port;
  so.api_key = w.key;
  so.model_id = std::filesystem::path(w.model_path).stem().string();
  so.model_created = file_time(w.model_path);
  so.cache_group = "openai-api";
  so.http_threads = 8;

  const uint64_t generation = ++generation_;
  set_state(QStringLiteral("starting"), 0, {});
  running_ = std::make_unique<Running>();
  Running* run = running_.get();
  Engine* engine = engine_.engine();
  QPointer<ApiServerHost> self(this);
  auto report = [self, generation](QString state, int port, QString error) {
    QMetaObject::invokeMethod(self.data(), [self, generation, state, port, error] {
      if (self && generation == self->generation_) self->set_state(state, port, error);
    }, Qt::QueuedConnection);
  };
  run->thread = std::thread([run, engine, so, path = w.model_path, report]() mutable {
    try {
      // The tokenizer names top-logprob alternatives, the template decides tool support; the file
      // is mapped, not read.
      std::shared_ptr<LoadedModel> names = LoadedModel::open(path);
      so.token_text = [names](TokenId id) { return names->tokenizer().token_to_piece(id); };
      so.chat_template = ChatRenderer(names->file(), names->tokenizer()).source();
      auto http = std::make_unique<server::HttpServer>(*engine, so);
      const int port = http->bind();
      server::HttpServer* raw = http.get();
      {
        std::lock_guard lock(run->mutex);
        if (run->stop_requested) {
          run->finished = true;
          return;
        }
        run->http = std::move(http);
      }
      report(QStringLiteral("running"), port, {});
      spdlog::info("api server: {} on http://{}:{}", so.model_id, so.host, port);
      raw->run();
    } catch (const std::exception& e) {
      report(QStringLiteral("failed"), 0, QString::fromStdString(e.what()));
    }
    run->finished = true;
  });
}

void ApiServerHost::stop() {
  reconcile_timer_.stop();
  if (!running_) return;
  ++generation_;
  {
    std::lock_guard lock(running_->mutex);
    running_->stop_requested = true;
  }
  // stop() before run() has begun listening is a no-op for the HTTP library: repeat until the
  // thread has left run().
  while (!running_->finished) {
    {
      std::lock_guard lock(running_->mutex);
      if (running_->http) running_->http->stop();
    }
    if (!running_->finished) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  running_->thread.join();
  running_.reset();
  if (state_ != QLatin1String("failed")) set_state(QStringLiteral("off"), 0, {});
}

void ApiServerHost::set_state(const QString& state, int port, const QString& error) {
  if (state == state_ && port == port_ && error == error_) return;
  state_ = state;
  port_ = port;
  error_ = error;
  emit changed();
}

}  // namespace hearth
