#pragma once
// A running `hearth` for tests: AppController with a temporary data directory, Main.qml loaded
// in an offscreen window, and a message handler that records every warning so that a test
// fails on any QML (or other Qt) warning.
#include <QDir>
#include <QQmlApplicationEngine>
#include <QQuickItem>
#include <QQuickWindow>
#include <QSignalSpy>
#include <QStringList>
#include <QTemporaryDir>
#include <QTest>
#include <functional>
#include <memory>

#include "app/gui/app_controller.h"

namespace hearth_test {

inline QString stories_model() { return QStringLiteral(HEARTH_SOURCE_DIR "/resources/models/stories260K.gguf"); }

// Records warnings, criticals and fatals (the previous handler still prints everything).
class WarningRecorder {
 public:
  WarningRecorder() {
    instance() = this;
    previous_ = qInstallMessageHandler(&WarningRecorder::handle);
  }
  ~WarningRecorder() {
    qInstallMessageHandler(previous_);
    instance() = nullptr;
  }
  QStringList take() {
    QStringList out;
    out.swap(warnings_);
    return out;
  }

 private:
  static WarningRecorder*& instance() {
    static WarningRecorder* current = nullptr;
    return current;
  }
  static void handle(QtMsgType type, const QMessageLogContext& context, const QString& message) {
    WarningRecorder* self = instance();
    // Environment noise, not the app's: the offscreen platform without a runtime directory.
    // Also Qt's own animation-driver bookkeeping on the offscreen basic render loop under heavy
    // load (Qt 6.4 prints it when a window's animation driver is stopped twice; nothing of ours).
    const bool noise = message.startsWith(QLatin1String("QStandardPaths: XDG_RUNTIME_DIR")) ||
                       message == QLatin1String("QUnifiedTimer::stopAnimationDriver: driver is not running");
    if (self && !noise && type != QtDebugMsg && type != QtInfoMsg) self->warnings_ << message;
    if (self && self->previous_) self->previous_(type, context, message);
  }
  QtMessageHandler previous_ = nullptr;
  QStringList warnings_;
};

// True once `spy` has seen its signal: at once when it already has (QSignalSpy::wait() only
// waits for the next one, and the app may finish inside a key click's event processing).
inline bool wait_signal(QSignalSpy& spy, int timeout_ms = 60000) { return !spy.isEmpty() || spy.wait(timeout_ms); }

class GuiApp {
 public:
  explicit GuiApp(const QString& data_dir) : data_dir_(data_dir) {}
  ~GuiApp() { stop(); }

  // Starts the app on `model` (empty: the remembered or bundled one). False when Main.qml
  // did not load.
  bool start(const QString& model = stories_model()) {
    hearth::GuiConfig config;
    config.data_dir = data_dir_.toStdString();
    config.model_path = model.toStdString();
    config.n_threads = 2;
    if (configure) configure(config);
    app_ = std::make_unique<hearth::AppController>(config);
    engine_ = std::make_unique<QQmlApplicationEngine>();
    engine_->setInitialProperties({{QStringLiteral("app"), QVariant::fromValue(app_.get())}});
    engine_->load(QUrl(QStringLiteral("qrc:/Hearth/Main.qml")));
    if (engine_->rootObjects().isEmpty()) return false;
    window_ = qobject_cast<QQuickWindow*>(engine_->rootObjects().first());
    if (!window_) return false;
    window_->requestActivate();
    return QTest::qWaitForWindowExposed(window_);
  }

  // Destroys the QML first (its bindings read the app), then the app (which saves and joins).
  void stop() {
    window_ = nullptr;
    engine_.reset();
    app_.reset();
  }

  // Changes the config before the app is built (e.g. a test backend that fails on purpose).
  std::function<void(hearth::GuiConfig&)> configure;

  hearth::AppController& app() { return *app_; }
  hearth::ChatSession& chat() { return *app_->chat(); }
  hearth::ChatModel& messages() { return *app_->chat()->messages(); }
  QQuickWindow* window() { return window_; }

  // Items by objectName, through the visual tree (delegates and popups included).
  QList<QQuickItem*> items(const char* object_name) {
    QList<QQuickItem*> found;
    if (window_) collect(window_->contentItem()->parentItem() ? window_->contentItem()->parentItem() : window_->contentItem(),
                         QString::fromLatin1(object_name), found);
    return found;
  }
  QQuickItem* item(const char* object_name) {
    const auto found = items(object_name);
    return found.isEmpty() ? nullptr : found.first();
  }

 private:
  static void collect(QQuickItem* at, const QString& name, QList<QQuickItem*>& found) {
    if (at->objectName() == name) found << at;
    for (QQuickItem* child : at->childItems()) collect(child, name, found);
  }

  QString data_dir_;
  std::unique_ptr<hearth::AppController> app_;
  std::unique_ptr<QQmlApplicationEngine> engine_;
  QQuickWindow* window_ = nullptr;
};

// What every GUI test function owns: a recorder of Qt warnings, a fresh data directory and, once
// a test starts it, the app. A test class derives from it (besides QObject) and calls
// begin_test() from its init() slot and end_test() from cleanup().
class GuiTestCase {
 protected:
  bool begin_test() {
    warnings_ = std::make_unique<WarningRecorder>();
    dir_ = std::make_unique<QTemporaryDir>();
    return dir_->isValid();
  }
  // Stops the app; returns the warnings seen since begin_test() as a failure message, or an
  // empty string when there were none.
  QString end_test() {
    gui_.reset();
    const QStringList seen = warnings_->take();
    warnings_.reset();
    return seen.isEmpty() ? QString() : QStringLiteral("warnings at run time:\n") + seen.join('\n');
  }
  // A new app over this test's data directory (not started).
  GuiApp& new_app() {
    gui_ = std::make_unique<GuiApp>(dir_->path());
    return *gui_;
  }
  // True once the model has loaded; false when it failed or took more than a minute.
  bool wait_ready() {
    return QTest::qWaitFor([&] { return gui_->app().models()->state() != QLatin1String("loading") &&
                                        gui_->app().models()->state() != QLatin1String("none"); }, 60000) &&
           gui_->app().models()->ready();
  }

  std::unique_ptr<WarningRecorder> warnings_;
  std::unique_ptr<QTemporaryDir> dir_;
  std::unique_ptr<GuiApp> gui_;
};

}  // namespace hearth_test
