// hearth: the desktop app. Options: --db PATH (conversations database), --data-dir PATH
// (instead of the user data directory), --model PATH (instead of the last or bundled model).
#include <QCommandLineParser>
#include <QGuiApplication>
#include <QQmlApplicationEngine>
#include <QtQml/qqmlextensionplugin.h>

#include "app/gui/app_controller.h"
#include "core/common/logging.h"

Q_IMPORT_QML_PLUGIN(HearthPlugin)

int main(int argc, char** argv) {
  QGuiApplication app(argc, argv);
  QGuiApplication::setApplicationName(QStringLiteral("Hearth"));
  QGuiApplication::setOrganizationName(QStringLiteral("Hearth"));

  QCommandLineParser parser;
  parser.setApplicationDescription(QStringLiteral("Hearth: local LLM chat"));
  parser.addHelpOption();
  QCommandLineOption db_option(QStringLiteral("db"), QStringLiteral("Conversations database."), QStringLiteral("path"));
  QCommandLineOption data_option(QStringLiteral("data-dir"), QStringLiteral("Data directory."), QStringLiteral("path"));
  QCommandLineOption model_option(QStringLiteral("model"), QStringLiteral("GGUF model to open."), QStringLiteral("path"));
  parser.addOptions({db_option, data_option, model_option});
  parser.process(app);

  hearth::GuiConfig config;
  config.db_path = parser.value(db_option).toStdString();
  config.data_dir = parser.value(data_option).toStdString();
  config.model_path = parser.value(model_option).toStdString();
  config = hearth::resolved(config);

  hearth::LogConfig log;
  log.file = config.data_dir / "logs" / "hearth.log";
  try {
    hearth::configure_logging(log);
  } catch (const std::exception&) {
    hearth::configure_logging({});  // stderr only when the log file cannot be written
  }

  hearth::AppController controller(config);
  QQmlApplicationEngine engine;
  engine.setInitialProperties({{QStringLiteral("app"), QVariant::fromValue(&controller)}});
  engine.load(QUrl(QStringLiteral("qrc:/Hearth/Main.qml")));
  if (engine.rootObjects().isEmpty()) return 1;
  return app.exec();
}
