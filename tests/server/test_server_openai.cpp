// The official `openai` npm client (tests/npm/openai_conformance.mjs) against `hearth-cli serve`
// on stories260K: four servers (open, keyed, tiny queue, and one on a copy of stories260K whose
// chat template supports tools) on ports the system picks.
#include <QProcessEnvironment>
#include <QTemporaryDir>
#include <QTest>

#include "core/gguf/gguf_file.h"
#include "tests/server/serve_process.h"

using hearth::test::ServeProcess;

namespace {

// A Hermes/Qwen 2.5 style template (ChatML, tools listed in the system turn, calls in
// <tool_call> tags, tool results as <tool_response> user turns), written for this test.
constexpr const char* kToolsTemplate =
    "{%- if tools %}"
    "{{- '<|im_start|>system\\n' }}"
    "{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}{%- else %}{{- 'You are a helpful assistant.' }}{%- endif %}"
    "{{- '\\n\\n# Tools\\n\\n<tools>' }}"
    "{%- for tool in tools %}{{- '\\n' }}{{- tool | tojson }}{%- endfor %}"
    "{{- '\\n</tools>\\n\\nFor each function call, return a json object within <tool_call></tool_call> tags.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'system' and loop.first and tools %}"
    "{%- elif message['role'] == 'assistant' and message['tool_calls'] %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if message['content'] %}{{- message['content'] + '\\n' }}{%- endif %}"
    "{%- for tc in message['tool_calls'] %}"
    "{%- set f = tc['function'] %}"
    "{{- '<tool_call>\\n{\"name\": \"' + f['name'] + '\", \"arguments\": ' + (f['arguments'] | tojson) + '}\\n</tool_call>' }}"
    "{%- endfor %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- elif message['role'] == 'tool' %}"
    "{{- '<|im_start|>user\\n<tool_response>\\n' + message['content'] + '\\n</tool_response><|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + (message['content'] if message['content'] is string else '') + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

// stories260K with kToolsTemplate as its tokenizer.chat_template, same file name (so the same model id).
QString write_tools_model(const QTemporaryDir& dir) {
  using namespace hearth::gguf;
  const GgufFile src = GgufFile::open(hearth::test::stories_model().toStdString());
  GgufWriter w(src.alignment());
  for (const auto& [key, value] : src.metadata()) w.set(key, value);
  w.set("tokenizer.chat_template", Value(std::string(kToolsTemplate)));
  for (const TensorInfo& t : src.tensors()) w.add_tensor(t.name, t.type, t.dims, src.tensor_data(t));
  const QString path = dir.filePath("stories260K.gguf");
  w.write(path.toStdString());
  return path;
}

}  // namespace

class TestServerOpenai : public QObject {
  Q_OBJECT

 private slots:
  void official_client_conformance() {
    if (QString(HEARTH_NODE).isEmpty()) QSKIP("node is not installed");
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString tools_model = write_tools_model(dir);
    ServeProcess open, keyed, tiny, tools;
    QString err = open.start({"--parallel", "4", "--ctx-size", "4096"});
    QVERIFY2(err.isEmpty(), qPrintable(err));
    err = keyed.start({"--api-key", "k3y"});
    QVERIFY2(err.isEmpty(), qPrintable(err));
    err = tiny.start({"--parallel", "1", "--max-queue", "1", "--ctx-size", "4096"});
    QVERIFY2(err.isEmpty(), qPrintable(err));
    err = tools.start({"--ctx-size", "2048"}, tools_model);
    QVERIFY2(err.isEmpty(), qPrintable(err));

    QProcess node;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    auto base = [](const ServeProcess& s) { return QString("http://127.0.0.1:%1/v1").arg(s.port()); };
    env.insert("HEARTH_URL", base(open));
    env.insert("HEARTH_KEYED_URL", base(keyed));
    env.insert("HEARTH_TINY_URL", base(tiny));
    env.insert("HEARTH_TOOLS_URL", base(tools));
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
