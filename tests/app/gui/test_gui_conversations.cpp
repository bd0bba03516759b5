// The sidebar and what survives a restart: create, rename, delete, undo, full-text search;
// settings, the last model and the last conversation after the app is destroyed and recreated
// on the same data directory.
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QtQml/qqmlextensionplugin.h>
#include <memory>

#include "tests/app/gui/gui_test_fixture.h"

Q_IMPORT_QML_PLUGIN(HearthPlugin)

using hearth::ConversationListModel;
using hearth_test::GuiApp;

class TestGuiConversations : public QObject, private hearth_test::GuiTestCase {
  Q_OBJECT

 private:
  bool start(const QString& model = hearth_test::stories_model()) {
    new_app();
    return gui_->start(model);
  }
  bool chat(const QString& text) {
    QSignalSpy finished(&gui_->chat(), &hearth::ChatSession::turnFinished);
    return gui_->chat().send(text) && hearth_test::wait_signal(finished, 60000);
  }
  // Waits for the list's next refresh after `action`.
  template <class F>
  bool refreshed_after(F action) {
    QSignalSpy spy(gui_->app().conversations(), &ConversationListModel::refreshed);
    action();
    return hearth_test::wait_signal(spy, 10000);
  }

 private slots:
  void init() { QVERIFY(begin_test()); }
  void cleanup() {
    const QString warnings = end_test();
    QVERIFY2(warnings.isEmpty(), qPrintable(warnings));
  }

  void createRenameDeleteUndoSearch() {
    QVERIFY(start());
    QVERIFY(wait_ready());
    gui_->app().settings()->setProperty("maxTokens", 16);
    ConversationListModel& list = *gui_->app().conversations();
    QTRY_COMPARE(list.rowCount(), 0);

    // A first message creates the conversation, titled by it.
    QVERIFY(refreshed_after([&] { QVERIFY(chat(QStringLiteral("Penguins on the ice"))); }));
    QTRY_COMPARE(list.rowCount(), 1);
    QCOMPARE(list.titleAt(0), QStringLiteral("Penguins on the ice"));
    const qint64 penguins = list.idAt(0);
    QCOMPARE(penguins, gui_->chat().conversation_id());

    // New (explicit) conversation.
    QSignalSpy created(&list, &ConversationListModel::created);
    list.createConversation(QStringLiteral("Second"));
    QVERIFY(hearth_test::wait_signal(created, 10000));
    const qint64 second = created.first().first().toLongLong();
    QTRY_COMPARE(list.rowCount(), 2);
    QVERIFY(list.rowOf(second) >= 0);

    // Rename.
    QVERIFY(refreshed_after([&] { list.rename(second, QStringLiteral("Garden notes")); }));
    QCOMPARE(list.titleAt(list.rowOf(second)), QStringLiteral("Garden notes"));

    // Delete the open conversation: it leaves the list and the chat; undo brings it back.
    QVERIFY(refreshed_after([&] { list.remove(penguins); }));
    QCOMPARE(list.rowCount(), 1);
    QCOMPARE(list.rowOf(penguins), -1);
    QVERIFY(list.can_undo());
    QCOMPARE(list.undo_title(), QStringLiteral("Penguins on the ice"));
    QTRY_COMPARE(gui_->chat().conversation_id(), qint64(0));
    QCOMPARE(gui_->messages().rowCount(), 0);
    QQuickItem* undo = gui_->item("undoDeleteButton");
    QVERIFY(undo);
    QTRY_VERIFY(undo->isVisible());
    QVERIFY(refreshed_after([&] { QMetaObject::invokeMethod(undo, "clicked"); }));
    QCOMPARE(list.rowCount(), 2);
    QVERIFY(list.rowOf(penguins) >= 0);
    QVERIFY(!list.can_undo());

    // Full-text search: message text and titles, through the search field.
    QQuickItem* search = gui_->item("searchField");
    QVERIFY(search);
    QVERIFY(refreshed_after([&] { search->setProperty("text", QStringLiteral("penguins")); }));
    QCOMPARE(list.rowCount(), 1);
    QCOMPARE(list.idAt(0), penguins);
    QVERIFY(refreshed_after([&] { search->setProperty("text", QStringLiteral("gard")); }));  // prefix
    QCOMPARE(list.rowCount(), 1);
    QCOMPARE(list.idAt(0), second);
    QVERIFY(refreshed_after([&] { search->setProperty("text", QStringLiteral("zebra")); }));
    QCOMPARE(list.rowCount(), 0);
    QVERIFY(refreshed_after([&] { search->setProperty("text", QString()); }));
    QCOMPARE(list.rowCount(), 2);

    // Ctrl+F focuses the search field.
    QQuickItem* input = gui_->item("composerInput");
    QVERIFY(input);
    input->forceActiveFocus();
    QTest::keyClick(gui_->window(), Qt::Key_F, Qt::ControlModifier);
    QTRY_VERIFY(search->hasActiveFocus());

    // Opening a conversation from the list shows its messages.
    QSignalSpy loaded(&gui_->chat(), &hearth::ChatSession::pathLoaded);
    gui_->chat().open(penguins);
    QVERIFY(hearth_test::wait_signal(loaded, 10000));
    QCOMPARE(gui_->messages().rowCount(), 2);
    QCOMPARE(gui_->messages().contentAt(0), QStringLiteral("Penguins on the ice"));

    // Ctrl+N: a new, empty chat.
    QTest::keyClick(gui_->window(), Qt::Key_N, Qt::ControlModifier);
    QTRY_COMPARE(gui_->chat().conversation_id(), qint64(0));
    QCOMPARE(gui_->messages().rowCount(), 0);
  }

  void settingsModelAndConversationSurviveARestart() {
    QVERIFY(start());
    QVERIFY(wait_ready());
    hearth::SettingsModel& settings = *gui_->app().settings();
    QTRY_VERIFY(settings.is_loaded());
    settings.setProperty("temperature", 0.25);
    settings.setProperty("topK", 7);
    settings.setProperty("topP", 0.5);
    settings.setProperty("seed", 1234);
    settings.setProperty("maxTokens", 16);
    settings.setProperty("contextLength", 256);
    settings.setProperty("gpuLayers", 3);
    settings.setProperty("overflowPolicy", QStringLiteral("error"));
    settings.setProperty("theme", QStringLiteral("dark"));
    settings.setProperty("fontSize", 14);
    QVERIFY(chat(QStringLiteral("Remember this conversation")));
    const qint64 conversation = gui_->chat().conversation_id();
    const QString reply = gui_->messages().contentAt(1);
    gui_->stop();  // destroys QML and app: saves settings, joins the engine, closes the database

    // Recreated on the same data directory, with no model named: the last one loads.
    QVERIFY(start(QString()));
    hearth::SettingsModel& again = *gui_->app().settings();
    QTRY_VERIFY(again.is_loaded());
    QCOMPARE(again.property("temperature").toDouble(), 0.25);
    QCOMPARE(again.property("topK").toInt(), 7);
    QCOMPARE(again.property("topP").toDouble(), 0.5);
    QCOMPARE(again.property("seed").toInt(), 1234);
    QCOMPARE(again.property("maxTokens").toInt(), 16);
    QCOMPARE(again.property("contextLength").toInt(), 256);
    QCOMPARE(again.property("gpuLayers").toInt(), 3);
    QCOMPARE(again.property("overflowPolicy").toString(), QStringLiteral("error"));
    QCOMPARE(again.property("theme").toString(), QStringLiteral("dark"));
    QCOMPARE(again.property("fontSize").toInt(), 14);
    QCOMPARE(gui_->window()->property("dark").toBool(), true);
    QVERIFY(wait_ready());
    QCOMPARE(gui_->app().models()->path(), hearth_test::stories_model());
    QVERIFY(gui_->app().models()->recent_models().contains(hearth_test::stories_model()));

    // The last conversation is open again, as it was.
    QTRY_COMPARE(gui_->chat().conversation_id(), conversation);
    QTRY_COMPARE(gui_->messages().rowCount(), 2);
    QCOMPARE(gui_->messages().contentAt(1), reply);
    QVERIFY(gui_->messages().row(1).stats.tokens > 0);  // stats were saved with the message

    // Model info was read for the dialog.
    QTRY_VERIFY(!gui_->app().models()->info().isEmpty());
    QCOMPARE(gui_->app().models()->info().value("architecture").toString(), QStringLiteral("llama"));
    QVERIFY(gui_->app().models()->info().value("contextLength").toLongLong() > 0);

    // The conversation continues without recomputing its history: the prefix comes back from
    // the persistent cache (kv-cache.db), and the reply says so.
    QVERIFY(chat(QStringLiteral("And then?")));
    QCOMPARE(gui_->messages().rowCount(), 4);
    const auto& next = gui_->messages().row(3).stats;
    QVERIFY2(next.restored_tokens > 0, qPrintable(QStringLiteral("restored %1, cached %2, prompt %3")
                                                     .arg(next.restored_tokens).arg(next.cached_tokens)
                                                     .arg(next.prompt_tokens)));
    QTRY_VERIFY(!gui_->items("restoredLabel").isEmpty());
  }

  void aReplyInterruptedByClosingTheAppIsKept() {
    QVERIFY(start());
    QVERIFY(wait_ready());
    gui_->app().settings()->setProperty("maxTokens", 400);
    hearth::ChatModel& messages = gui_->messages();
    // Close the app as soon as the first words of the reply are on screen.
    bool streamed = false;
    connect(&messages, &QAbstractItemModel::dataChanged, this, [&](const QModelIndex& at) {
      if (messages.row(at.row()).streaming && !messages.contentAt(at.row()).isEmpty()) streamed = true;
    });
    QVERIFY(gui_->chat().send(QStringLiteral("Tell me about the sea")));
    QTRY_VERIFY_WITH_TIMEOUT(streamed, 60000);
    const qint64 conversation = gui_->chat().conversation_id();
    QVERIFY(conversation != 0);
    gui_->stop();

    QVERIFY(start());
    QTRY_COMPARE(gui_->chat().conversation_id(), conversation);
    QTRY_COMPARE(gui_->messages().rowCount(), 2);
    QCOMPARE(gui_->messages().roleAt(1), QStringLiteral("assistant"));
    QVERIFY(!gui_->messages().contentAt(1).isEmpty());
  }
};

QTEST_MAIN(TestGuiConversations)
#include "test_gui_conversations.moc"
