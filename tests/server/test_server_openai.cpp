// The official `openai` npm client (tests/npm/openai_conformance.mjs) against `hearth-cli serve`
// on stories260K: three servers (open, keyed, tiny queue) on ports the system picks.
#include <QProcessEnvironment>
#include <QTest>

#include "tests/server/serve_process.h"

using hearth::test::ServeProcess;

class TestServerOpenai : public QObject {
  Q_OBJECT

 private slots:
  void official_client_conformance() {
    if (QString(HEARTH_NODE).isEmpty()) QSKIP("node is not installed");
    ServeProcess open, keyed, tiny;
    QString err = open.start({"--parallel", "4", "--ctx-size", "4096"});
    QVERIFY2(err.isEmpty(), qPrintable(err));
    err = keyed.start({"--api-key", "k3y"});
    QVERIFY2(err.isEmpty(), qPrintable(err));
    err = tiny.start({"--parallel", "1", "--max-queue", "1", "--ctx-size", "4096"});
    QVERIFY2(err.isEmpty(), qPrintable(err));

    QProcess node;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    auto base = [](const ServeProcess& s) { return QString("http://127.0.0.1:%1/v1").arg(s.port()); };
    env.insert("HEARTH_URL", base(open));
    env.insert("HEARTH_KEYED_URL", base(keyed));
    env.insert("HEARTH_TINY_URL", base(tiny));
    node.setProcessEnvironment(env);
    node.setProcessChannelMode(QProcess::MergedChannels);
    node.setWorkingDirectory(HEARTH_SOURCE_DIR "/tests/npm");
    node.start(HEARTH_NODE, {"openai_conformance.mjs"});
    QVERIFY(node.waitForStarted(20000));
    QVERIFY2(node.waitForFinished(240000), "the conformance script did not finish in 240 s");
    const QString out = QString::fromUtf8(node.readAll());
    qInfo().noquote() << out;
    QVERIFY2(node.exitStatus() == QProcess::NormalExit && node.exitCode() == 0, "see the 'not ok' lines above");
    QVERIFY(out.contains("# all passed"));
  }
};

QTEST_APPLESS_MAIN(TestServerOpenai)
#include "test_server_openai.moc"
