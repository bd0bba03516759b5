#pragma once
// Runs the built hearth-cli (HEARTH_CLI) in a child process, as a user would, with no stdin.
#include <QProcess>
#include <QString>
#include <QStringList>

namespace hearth::test {

inline const QString kStoriesModel = HEARTH_SOURCE_DIR "/resources/models/stories260K.gguf";

struct CliRun {
  int exit_code = -1;  // -1: crashed or timed out
  QString out, err;
};

inline CliRun run_cli(const QStringList& args, int timeout_ms = 120000) {
  QProcess p;
  p.start(HEARTH_CLI, args);
  p.closeWriteChannel();
  CliRun r;
  if (!p.waitForFinished(timeout_ms)) {
    p.kill();
    r.err = "timed out";
    return r;
  }
  r.exit_code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
  r.out = QString::fromUtf8(p.readAllStandardOutput());
  r.err = QString::fromUtf8(p.readAllStandardError());
  return r;
}

}  // namespace hearth::test
