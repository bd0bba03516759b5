// The desktop app's second round of features, end to end (Main.qml offscreen, the real engine on
// stories260K, a temporary data directory): export/import, presets, the context-full view, the
// persistent prefix cache across a restart, the in-process API server (a real HTTP client),
// energy stats and the About dialog, and an engine error injected mid-stream.
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>
#include <QUrl>
#include <QtQml/qqmlextensionplugin.h>
#include <httplib.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "app/gui/message_stats.h"
#include "app/gui/sampling_json.h"
#include "core/backend/backend.h"
#include "hearth/version.h"
#include "tests/app/gui/gui_test_fixture.h"

Q_IMPORT_QML_PLUGIN(HearthPlugin)

using hearth::ChatModel;
using hearth_test::GuiApp;

namespace {

// A real backend that throws from its Nth batched forward pass: a device fault mid-stream.
class FaultyBackend : public hearth::Backend {
 public:
  FaultyBackend(std::unique_ptr<hearth::Backend> inner, int fail_at_call) : inner_(std::move(inner)), fail_at_(fail_at_call) {}
  std::string device_name() const override { return inner_->device_name(); }
  int64_t context_size() const override { return inner_->context_size(); }
  int64_t n_vocab() const override { return inner_->n_vocab(); }
  hearth::KvGeometry kv_geometry() const override { return inner_->kv_geometry(); }
  int64_t kv_block_count() const override { return inner_->kv_block_count(); }
  void forward_batch(std::span<const hearth::SequenceSlice> sequences, std::vector<float>& logits) override {
    if (++calls_ == fail_at_) throw hearth::Error("injected device fault");
    inner_->forward_batch(sequences, logits);
  }
  void copy_kv_block(int32_t src, int32_t dst) override { inner_->copy_kv_block(src, dst); }
  void read_kv_block(int32_t block, std::span<std::byte> bytes) const override { inner_->read_kv_block(block, bytes); }
  void write_kv_block(int32_t block, std::span<const std::byte> bytes) override { inner_->write_kv_block(block, bytes); }

 private:
  std::unique_ptr<hearth::Backend> inner_;
  int fail_at_;
  int calls_ = 0;  // engine thread only
};

int free_port() {
  QTcpServer probe;
  if (!probe.listen(QHostAddress::LocalHost, 0)) return 0;
  return probe.serverPort();
}

QString read_text(const QString& path) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) ? QString::fromUtf8(f.readAll()) : QString();
}

}  // namespace

class TestGuiFeatures : public QObject, private hearth_test::GuiTestCase {
  Q_OBJECT

 private:
  bool start(std::function<void(hearth::GuiConfig&)> configure = {}) {
    new_app();
    gui_->configure = std::move(configure);
    if (!gui_->start()) return false;
    gui_->app().settings()->setProperty("maxTokens", 24);
    return true;
  }
  // Sends `text` and waits for the turn to end; returns its finish reason.
  QString send_and_wait(const QString& text) {
    QSignalSpy finished(&gui_->chat(), &hearth::ChatSession::turnFinished);
    if (!gui_->chat().send(text)) return QStringLiteral("not sent: ") + gui_->chat().error();
    if (!hearth_test::wait_signal(finished, 60000)) return QStringLiteral("timeout");
    return finished.at(0).at(0).toString();
  }
  bool wait_path_loaded() {
    QSignalSpy loaded(&gui_->chat(), &hearth::ChatSession::pathLoaded);
    return loaded.wait(20000);
  }
  QQuickItem* delegate_item(const char* name, int row) {
    const auto found = gui_->items(name);
    for (QQuickItem* item : found) {
      for (QQuickItem* p = item; p; p = p->parentItem()) {
        const QVariant index = p->property("index");
        if (index.isValid() && p->property("branchCount").isValid()) {
          if (index.toInt() == row) return item;
          break;
        }
      }
    }
    return nullptr;
  }

 private slots:
  void init() { QVERIFY(begin_test()); }
  void cleanup() {
    const QString warnings = end_test();
    QVERIFY2(warnings.isEmpty(), qPrintable(warnings));
  }

  void exportMarkdownAndJsonThenImport() {
    QVERIFY(start());
    QVERIFY(wait_ready());
    QCOMPARE(send_and_wait(QStringLiteral("Tell me about the *red* fox")), QStringLiteral("length"));
    const qint64 id = gui_->chat().conversation_id();
    QVERIFY(id > 0);
    const QString user = gui_->messages().contentAt(0);
    const QString reply = gui_->messages().contentAt(1);
    QVERIFY(!reply.isEmpty());

    hearth::ConversationTransfer* transfer = gui_->app().transfer();
    QSignalSpy exported(transfer, &hearth::ConversationTransfer::exported);
    const QString md_path = dir_->filePath(QStringLiteral("chat.md"));
    transfer->exportMarkdown(id, md_path);
    QVERIFY(hearth_test::wait_signal(exported, 20000));
    const QString md = read_text(md_path);
    QVERIFY2(md.contains(user) && md.contains(reply.trimmed()), qPrintable(md));

    // JSON, given as the file URL a FileDialog hands over.
    exported.clear();
    const QString json_path = dir_->filePath(QStringLiteral("chat.json"));
    transfer->exportJson(id, QUrl::fromLocalFile(json_path).toString());
    QVERIFY(hearth_test::wait_signal(exported, 20000));
    QCOMPARE(exported.at(0).at(0).toString(), json_path);
    const QJsonObject doc = QJsonDocument::fromJson(read_text(json_path).toUtf8()).object();
    QCOMPARE(doc.value("format").toString(), QStringLiteral("hearth.conversation"));
    const QJsonArray messages = doc.value("messages").toArray();
    QCOMPARE(messages.size(), 2);
    QCOMPARE(messages.at(0).toObject().value("content").toString(), user);
    QCOMPARE(messages.at(1).toObject().value("content").toString(), reply);
    QVERIFY(!transfer->busy());
    QQuickItem* message = gui_->item("transferMessage");
    QVERIFY(message);
    QTRY_VERIFY(message->isVisible());

    // Import: a new conversation with the same messages, opened.
    QSignalSpy imported(transfer, &hearth::ConversationTransfer::imported);
    QSignalSpy loaded(&gui_->chat(), &hearth::ChatSession::pathLoaded);
    transfer->importJson(json_path);
    QVERIFY(hearth_test::wait_signal(imported, 20000));
    const qint64 new_id = imported.at(0).at(0).toLongLong();
    QVERIFY(new_id > 0 && new_id != id);
    QTRY_COMPARE(gui_->chat().conversation_id(), new_id);
    QTRY_COMPARE(gui_->messages().rowCount(), 2);
    QCOMPARE(gui_->messages().contentAt(0), user);
    QCOMPARE(gui_->messages().contentAt(1), reply);
    QTRY_COMPARE(gui_->app().conversations()->rowCount(), 2);

    // A malformed file: shown, nothing added.
    const QString bad_path = dir_->filePath(QStringLiteral("bad.json"));
    {
      QFile bad(bad_path);
      QVERIFY(bad.open(QIODevice::WriteOnly));
      bad.write(R"({"format": "hearth.conversation", "version": 1, "messages": [{"id": 1, "parent": 7}]})");
    }
    QSignalSpy failed(transfer, &hearth::ConversationTransfer::failed);
    transfer->importJson(bad_path);
    QVERIFY(hearth_test::wait_signal(failed, 20000));
    QVERIFY2(transfer->error().contains(QStringLiteral("Import failed")), qPrintable(transfer->error()));
    QTRY_VERIFY(message->property("text").toString().contains(QStringLiteral("Import failed")));
    QTest::qWait(100);
    QCOMPARE(gui_->app().conversations()->rowCount(), 2);

    // The import button opens the file dialog (Qt Quick's own on this platform), without warnings.
    QQuickItem* import_button = gui_->item("importButton");
    QVERIFY(import_button);
    QObject* dialog = gui_->window()->findChild<QObject*>(QStringLiteral("importDialog"));
    QVERIFY(dialog);
    QMetaObject::invokeMethod(import_button, "clicked");
    QTRY_VERIFY(dialog->property("visible").toBool());
    QMetaObject::invokeMethod(dialog, "reject");
    QTRY_VERIFY(!dialog->property("visible").toBool());
  }

  // Speculative decoding from the settings: n-gram lookup, then a draft model (stories260K drafts
  // for itself: same vocabulary) loaded with the next model load. The engine's counters show the
  // requests speculated.
  void speculativeDecodingFollowsTheSettings() {
    QVERIFY(start());
    QVERIFY(wait_ready());
    hearth::SettingsModel* settings = gui_->app().settings();
    settings->setProperty("maxTokens", 200);
    settings->setProperty("temperature", 0.0);
    auto drafted = [&] { return gui_->app().engine()->engine()->stats().drafted_tokens; };
    QCOMPARE(send_and_wait(QStringLiteral("Once upon a time")), QStringLiteral("length"));
    QCOMPARE(drafted(), uint64_t{0});  // off by default

    settings->setProperty("specMode", QStringLiteral("ngram"));
    gui_->chat().newConversation();
    QCOMPARE(send_and_wait(QStringLiteral("Once upon a time")), QStringLiteral("length"));
    const uint64_t ngram_drafts = drafted();
    qInfo("n-gram: %llu tokens drafted", static_cast<unsigned long long>(ngram_drafts));
    QVERIFY(ngram_drafts > 0);

    settings->setProperty("specMode", QStringLiteral("draft"));
    settings->setProperty("draftModelPath", hearth_test::stories_model());
    QSignalSpy reloaded(gui_->app().models(), &hearth::ModelManager::loaded);
    gui_->app().models()->load(hearth_test::stories_model());
    QVERIFY(hearth_test::wait_signal(reloaded, 60000));
    QVERIFY(wait_ready());
    QVERIFY(!gui_->app().engine()->engine()->stats().draft_model_path.empty());
    gui_->chat().newConversation();
    QCOMPARE(send_and_wait(QStringLiteral("Once upon a time")), QStringLiteral("length"));
    const auto stats = gui_->app().engine()->engine()->stats();
    qInfo("draft model: %llu drafted, %llu accepted", static_cast<unsigned long long>(stats.drafted_tokens),
          static_cast<unsigned long long>(stats.accepted_tokens));
    QVERIFY(stats.drafted_tokens > 0);
    QVERIFY(stats.accepted_tokens > 0);  // greedy, drafting for itself: most drafts are accepted
  }

  // The GPU layers setting (partial offload) reaches the backend factory with the next model load;
  // without a GPU the model still loads, on the CPU, and says why.
  void gpuLayersSettingReachesTheBackendOnTheNextLoad() {
    auto asked = std::make_shared<std::vector<int64_t>>();
    QVERIFY(start([asked](hearth::GuiConfig& config) {
      config.backend_factory = [asked](const hearth::LoadedModel& model, const hearth::BackendOptions& options) {
        asked->push_back(options.gpu_layers);
        return hearth::create_backend(model, options);
      };
    }));
    QVERIFY(wait_ready());
    QVERIFY(!asked->empty());
    QCOMPARE(asked->back(), int64_t{-1});  // every layer on the GPU when one is used
    gui_->app().settings()->setProperty("gpuLayers", 2);
    QSignalSpy reloaded(gui_->app().models(), &hearth::ModelManager::loaded);
    gui_->app().models()->load(hearth_test::stories_model());
    QVERIFY(hearth_test::wait_signal(reloaded, 60000));
    QVERIFY(wait_ready());
    QCOMPARE(asked->back(), int64_t{2});
    QVERIFY2(!gui_->app().models()->device_reason().isEmpty(), "the device choice is explained");
    QCOMPARE(send_and_wait(QStringLiteral("Once upon a time")), QStringLiteral("length"));
  }

  void presetsPerConversation() {
    QVERIFY(start());
    QVERIFY(wait_ready());
    hearth::PresetListModel* presets = gui_->app().presets();
    hearth::SettingsModel* settings = gui_->app().settings();
    settings->setProperty("temperature", 0.25);
    settings->setProperty("topK", 7);
    gui_->chat().setSystemPrompt(QStringLiteral("You are terse."));
    QSignalSpy refreshed(presets, &hearth::PresetListModel::refreshed);
    presets->saveCurrent(QStringLiteral("Terse"));
    QTRY_COMPARE(presets->rowCount(), 1);
    QCOMPARE(presets->nameAt(0), QStringLiteral("Terse"));
    QVERIFY(presets->error().isEmpty());

    // A new conversation gets the preset; later settings changes do not touch its sampling.
    gui_->chat().newConversation();
    QVERIFY(gui_->chat().system_prompt().isEmpty());
    settings->setProperty("temperature", 1.5);
    QSignalSpy applied(presets, &hearth::PresetListModel::applied);
    presets->apply(QStringLiteral("Terse"));
    QVERIFY(hearth_test::wait_signal(applied, 20000));
    QCOMPARE(gui_->chat().system_prompt(), QStringLiteral("You are terse."));
    QCOMPARE(gui_->chat().preset_name(), QStringLiteral("Terse"));
    const hearth::SamplingParams effective =
        hearth::sampling_with_json(gui_->app().settings()->sampling(), gui_->chat().sampling_json());
    QCOMPARE(effective.temperature, 0.25f);
    QCOMPARE(effective.top_k, 7);

    // Kept with the conversation: reopened from the database, the preset is still there.
    QCOMPARE(send_and_wait(QStringLiteral("Hi")), QStringLiteral("length"));
    const qint64 id = gui_->chat().conversation_id();
    gui_->chat().newConversation();
    QCOMPARE(gui_->chat().preset_name(), QString());
    gui_->chat().open(id);
    QVERIFY(wait_path_loaded());
    QCOMPARE(gui_->chat().preset_name(), QStringLiteral("Terse"));
    QCOMPARE(gui_->chat().system_prompt(), QStringLiteral("You are terse."));

    // The system prompt stays editable per conversation (saved).
    gui_->chat().setSystemPrompt(QStringLiteral("You are kind."));
    gui_->chat().newConversation();
    gui_->chat().open(id);
    QVERIFY(wait_path_loaded());
    QCOMPARE(gui_->chat().system_prompt(), QStringLiteral("You are kind."));

    presets->remove(QStringLiteral("Terse"));
    QTRY_COMPARE(presets->rowCount(), 0);
    presets->saveCurrent(QStringLiteral("   "));
    QTRY_VERIFY(!presets->error().isEmpty());
  }

  void aFullContextShowsWhichMessagesWereDropped() {
    QVERIFY(start());
    QVERIFY(wait_ready());
    hearth::SettingsModel* settings = gui_->app().settings();
    settings->setProperty("contextLength", 256);
    settings->setProperty("maxTokens", 16);
    settings->setProperty("overflowPolicy", QStringLiteral("truncate"));
    QSignalSpy reloaded(gui_->app().models(), &hearth::ModelManager::loaded);
    gui_->app().models()->load(hearth_test::stories_model());  // the context applies at a load
    QVERIFY(hearth_test::wait_signal(reloaded, 60000));
    QVERIFY(wait_ready());
    gui_->chat().setSystemPrompt(QStringLiteral("You tell short stories."));

    // Each turn is some 40 tokens (the tiny vocabulary spells words in pieces): after a few the
    // oldest turns no longer fit.
    int64_t truncated = 0;
    for (int turn = 0; turn < 12 && truncated == 0; ++turn) {
      const QString text = QStringLiteral("Tim and Sue play, turn %1.").arg(turn);
      const QString reason = send_and_wait(text);
      QVERIFY2(reason == QLatin1String("length") || reason == QLatin1String("stop"), qPrintable(reason));
      const int last = gui_->messages().rowCount() - 1;
      truncated = gui_->messages().data(gui_->messages().index(last), ChatModel::TruncatedTokensRole).toLongLong();
    }
    QVERIFY2(truncated > 0, "the context never filled");
    const ChatModel& m = gui_->messages();
    const int rows = m.rowCount();
    // The oldest messages are dropped, the latest user message never; dropped rows are a prefix.
    QVERIFY(m.droppedAt(0));
    QVERIFY(!m.droppedAt(rows - 2));
    QVERIFY(!m.droppedAt(rows - 1));
    bool seen_kept = false;
    for (int i = 0; i < rows; ++i) {
      if (!m.droppedAt(i)) seen_kept = true;
      QVERIFY2(!(seen_kept && m.droppedAt(i)), qPrintable(QStringLiteral("row %1 dropped after a kept one").arg(i)));
    }
    QCOMPARE(gui_->chat().system_prompt(), QStringLiteral("You tell short stories."));
    // The chat shows it: the first message is dimmed with its note.
    QQuickItem* note = delegate_item("droppedNote", 0);
    QVERIFY(note);
    QTRY_VERIFY(note->isVisible());
    QQuickItem* kept_note = delegate_item("droppedNote", rows - 2);
    QVERIFY(kept_note);
    QVERIFY(!kept_note->isVisible());
  }

  void aReopenedConversationRestoresItsPrefixFromDisk() {
    const QString prompt = QStringLiteral(
        "Once upon a time there was a little girl named Lily. She loved to play in the garden with her "
        "big red ball. One day the ball rolled under a bush and she could not find it. Her friend Ben came "
        "to help her look, and together they searched every corner of the garden until the sun went down.");
    qint64 id = 0;
    {
      QVERIFY(start());
      QVERIFY(wait_ready());
      gui_->chat().setSystemPrompt(QStringLiteral("You are a storyteller for small children."));
      QCOMPARE(send_and_wait(prompt), QStringLiteral("length"));
      id = gui_->chat().conversation_id();
      gui_->stop();  // the app closes; the prefix cache stays on disk
    }
    QVERIFY(start());
    QVERIFY(wait_ready());
    QTRY_COMPARE(gui_->chat().conversation_id(), id);  // the last conversation is restored
    QTRY_COMPARE(gui_->messages().rowCount(), 2);
    QCOMPARE(send_and_wait(QStringLiteral("What happened next?")), QStringLiteral("length"));
    const ChatModel& m = gui_->messages();
    const int last = m.rowCount() - 1;
    const qint64 restored = m.data(m.index(last), ChatModel::RestoredTokensRole).toLongLong();
    qInfo("restored %lld prompt tokens from the persistent cache", static_cast<long long>(restored));
    QVERIFY2(restored > 0, "the reopened conversation re-read its whole history");
    QQuickItem* label = delegate_item("restoredLabel", last);
    QVERIFY(label);
    QTRY_VERIFY(label->isVisible());
    QVERIFY2(label->property("text").toString().contains(QStringLiteral("restored %1 tokens from cache").arg(restored)),
             qPrintable(label->property("text").toString()));
  }

  void theApiServerStreamsFromTheAppsEngine() {
    QVERIFY(start());
    QVERIFY(wait_ready());
    hearth::ApiServerHost* api = gui_->app().api_server();
    hearth::SettingsModel* settings = gui_->app().settings();
    QCOMPARE(api->state(), QStringLiteral("off"));
    const int port = free_port();
    QVERIFY(port > 0);
    settings->setProperty("apiPort", port);
    settings->setProperty("apiEnabled", true);
    QTRY_COMPARE_WITH_TIMEOUT(api->state(), QStringLiteral("running"), 20000);
    QCOMPARE(api->port(), port);

    // One real streaming request, on a thread (the GUI thread keeps running meanwhile).
    std::string body;
    int status = 0;
    std::atomic<bool> done{false};
    std::thread client([&] {
      httplib::Client http("127.0.0.1", port);
      http.set_read_timeout(60, 0);
      const std::string request =
          R"({"model": "stories260K", "stream": true, "max_tokens": 16,
              "messages": [{"role": "user", "content": "Once upon a time"}]})";
      auto result = http.Post("/v1/chat/completions", request, "application/json");
      if (result) {
        status = result->status;
        body = result->body;
      }
      done = true;
    });
    QTRY_VERIFY_WITH_TIMEOUT(done.load(), 60000);
    client.join();
    QCOMPARE(status, 200);
    QVERIFY2(body.find("data: {") != std::string::npos, body.c_str());
    QVERIFY2(body.find("\"delta\"") != std::string::npos, body.c_str());
    QVERIFY2(body.find("data: [DONE]") != std::string::npos, body.c_str());

    // A port in use: the error is shown.
    QTcpServer squatter;
    QVERIFY(squatter.listen(QHostAddress::LocalHost, 0));
    settings->setProperty("apiPort", static_cast<int>(squatter.serverPort()));
    QTRY_COMPARE_WITH_TIMEOUT(api->state(), QStringLiteral("failed"), 20000);
    QVERIFY2(api->error().contains(QStringLiteral("in use")), qPrintable(api->error()));
    QTest::keyClick(gui_->window(), Qt::Key_Comma, Qt::ControlModifier);  // the settings show it
    QObject* dialog = gui_->window()->findChild<QObject*>(QStringLiteral("settingsDialog"));
    QVERIFY(dialog);
    QTRY_VERIFY(dialog->property("opened").toBool());
    QQuickItem* error_label = gui_->item("apiServerError");
    QVERIFY(error_label);
    QTRY_VERIFY(error_label->isVisible());
    QVERIFY(error_label->property("text").toString().contains(api->error()));

    // The LAN needs a key.
    settings->setProperty("apiPort", port);
    settings->setProperty("apiAllowLan", true);
    QTRY_COMPARE_WITH_TIMEOUT(api->state(), QStringLiteral("failed"), 20000);
    QTRY_VERIFY(api->error().contains(QStringLiteral("API key")));

    // Off again: nothing listens on the port (a connection is refused; binding it could still
    // meet the server side's TIME_WAIT of the earlier connection).
    settings->setProperty("apiAllowLan", false);
    settings->setProperty("apiEnabled", false);
    QTRY_COMPARE_WITH_TIMEOUT(api->state(), QStringLiteral("off"), 20000);
    QTcpSocket probe;
    probe.connectToHost(QHostAddress::LocalHost, static_cast<quint16>(port));
    QVERIFY(!probe.waitForConnected(3000));
    QCOMPARE(probe.error(), QAbstractSocket::ConnectionRefusedError);
  }

  void energyStatsShowOnlyWhenMeasuredAndAboutShowsTheVersion() {
    QVERIFY(start());
    QVERIFY(wait_ready());
    QCOMPARE(send_and_wait(QStringLiteral("Hello")), QStringLiteral("length"));
    ChatModel& m = gui_->messages();
    QQuickItem* energy = delegate_item("energyLabel", 1);
    QVERIFY(energy);
    QVERIFY(!energy->isVisible());  // the CPU engine measures no energy
    QCOMPARE(m.data(m.index(1), ChatModel::JoulesPerTokenRole).toDouble(), 0.0);

    // Stats with energy (as a GPU with NVML reports them) round-trip the database form and show.
    hearth::ChatRow row = m.row(1);
    row.stats.joules_per_token = 0.125;
    const hearth::MessageStats back = hearth::stats_from_json(hearth::stats_to_json(row.stats), 1, 2);
    QCOMPARE(back.joules_per_token, 0.125);
    row.stats = back;
    m.replace(1, row);
    QTRY_VERIFY(energy->isVisible());
    QVERIFY2(energy->property("text").toString().contains(QStringLiteral("0.125 J/token")),
             qPrintable(energy->property("text").toString()));

    QObject* about = gui_->window()->findChild<QObject*>(QStringLiteral("aboutDialog"));
    QVERIFY(about);
    QQuickItem* button = gui_->item("aboutButton");
    QVERIFY(button);
    QMetaObject::invokeMethod(button, "clicked");
    QTRY_VERIFY(about->property("opened").toBool());
    QQuickItem* version = gui_->item("aboutVersion");
    QVERIFY(version);
    QCOMPARE(version->property("text").toString(), QStringLiteral("Version %1").arg(QString::fromLatin1(hearth::kVersion)));
    QCOMPARE(gui_->app().version(), QString::fromLatin1(hearth::kVersion));
  }

  void anEngineErrorMidStreamIsShownOnTheMessage() {
    QVERIFY(start([](hearth::GuiConfig& config) {
      config.backend_factory = [](const hearth::LoadedModel& model, const hearth::BackendOptions& options) {
        hearth::BackendChoice choice = hearth::create_backend(model, options);
        // Call 1: the prompt; then one call per generated token: fails after a few tokens.
        choice.backend = std::make_unique<FaultyBackend>(std::move(choice.backend), 10);
        return choice;
      };
    }));
    QVERIFY(wait_ready());
    QCOMPARE(send_and_wait(QStringLiteral("Once upon a time")), QStringLiteral("error"));
    const ChatModel& m = gui_->messages();
    QCOMPARE(m.rowCount(), 2);
    QVERIFY2(!m.contentAt(1).isEmpty(), "the text streamed before the fault is kept");
    const QString error = m.data(m.index(1), ChatModel::ErrorRole).toString();
    QVERIFY2(error.contains(QStringLiteral("injected device fault")), qPrintable(error));
    QQuickItem* label = delegate_item("messageError", 1);
    QVERIFY(label);
    QTRY_VERIFY(label->isVisible());
    QVERIFY(label->property("text").toString().contains(QStringLiteral("injected device fault")));
  }
};

QTEST_MAIN(TestGuiFeatures)
#include "test_gui_features.moc"
