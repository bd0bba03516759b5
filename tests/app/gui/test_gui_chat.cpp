// The chat of the desktop app, end to end: Main.qml on the offscreen platform, the real engine
// on stories260K, a temporary database. Keys go through the window like a user's.
#include <QAccessible>
#include <QCoreApplication>
#include <QFile>
#include <QImage>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QtQml/qqmlextensionplugin.h>
#include <functional>
#include <memory>
#include <set>

#include "tests/app/gui/gui_test_fixture.h"

Q_IMPORT_QML_PLUGIN(HearthPlugin)

using hearth::ChatModel;
using hearth_test::GuiApp;

class TestGuiChat : public QObject, private hearth_test::GuiTestCase {
  Q_OBJECT

 private:
  bool start(const QString& model = hearth_test::stories_model()) {
    new_app();
    if (!gui_->start(model)) return false;
    gui_->app().settings()->setProperty("maxTokens", 48);
    return true;
  }
  // Types `text` into the composer and presses Enter, as a user would.
  bool type_and_send(const QString& text) {
    QQuickItem* input = gui_->item("composerInput");
    if (!input) return false;
    input->forceActiveFocus();
    input->setProperty("text", text);
    QTest::keyClick(gui_->window(), Qt::Key_Return);
    return true;
  }
  QString reason_of(const QSignalSpy& spy, int i = 0) { return spy.at(i).at(0).toString(); }

 private slots:
  void init() { QVERIFY(begin_test()); }
  void cleanup() {
    const QString warnings = end_test();
    QVERIFY2(warnings.isEmpty(), qPrintable(warnings));
  }

  void sendStreamsTextIntoTheChat() {
    QVERIFY(start());
    QVERIFY2(wait_ready(), qPrintable(gui_->app().models()->error()));
    ChatModel& messages = gui_->messages();

    // Shift+Enter adds a line and sends nothing.
    QQuickItem* input = gui_->item("composerInput");
    QVERIFY(input);
    input->forceActiveFocus();
    input->setProperty("text", QStringLiteral("first line"));
    input->setProperty("cursorPosition", 10);
    QTest::keyClick(gui_->window(), Qt::Key_Return, Qt::ShiftModifier);
    QCOMPARE(input->property("text").toString(), QStringLiteral("first line\n"));
    QCOMPARE(messages.rowCount(), 0);

    bool saw_partial = false;
    connect(&messages, &QAbstractItemModel::dataChanged, this, [&](const QModelIndex& at, const QModelIndex&, const QList<int>& roles) {
      if (!roles.contains(ChatModel::ContentRole)) return;
      const auto& row = messages.row(at.row());
      if (row.streaming && !row.content.isEmpty()) saw_partial = true;
    });
    QSignalSpy finished(&gui_->chat(), &hearth::ChatSession::turnFinished);
    QVERIFY(type_and_send(QStringLiteral("Once upon a time")));
    // The user message and the (empty, streaming) reply show at once.
    QCOMPARE(messages.rowCount(), 2);
    QCOMPARE(messages.roleAt(0), QStringLiteral("user"));
    QCOMPARE(messages.contentAt(0), QStringLiteral("Once upon a time"));
    QVERIFY(messages.row(1).streaming);
    QVERIFY(gui_->chat().busy());
    QCOMPARE(input->property("text").toString(), QString());

    QVERIFY(hearth_test::wait_signal(finished, 60000));
    QVERIFY2(reason_of(finished) == "stop" || reason_of(finished) == "length", qPrintable(reason_of(finished)));
    QVERIFY(saw_partial);  // text arrived while the reply was still streaming
    QVERIFY(gui_->app().engine()->delta_flushes() >= 1);
    const hearth::ChatRow& reply = messages.row(1);
    QVERIFY(!reply.streaming);
    QVERIFY(!reply.content.isEmpty());
    QVERIFY(reply.stats.tokens > 0);
    QVERIFY(reply.stats.tokens <= 48);
    QVERIFY(reply.stats.tokens_per_second > 0);
    QCOMPARE(QString::fromStdString(reply.stats.device).isEmpty(), false);
    QVERIFY(reply.message_id != 0);
    QVERIFY(messages.row(0).message_id != 0);
    QVERIFY(gui_->chat().conversation_id() != 0);
    QCOMPARE(gui_->chat().title(), QStringLiteral("Once upon a time"));

    // The QML shows both messages.
    QTRY_VERIFY(gui_->items("messageText").size() >= 2);
    bool reply_shown = false;
    for (QQuickItem* text : gui_->items("messageText")) {
      if (text->property("length").toInt() > 0 && text->property("textFormat").toInt() != 0) reply_shown = true;
    }
    QVERIFY(reply_shown);

    // The database has what the chat shows.
    QSignalSpy loaded(&gui_->chat(), &hearth::ChatSession::pathLoaded);
    const QString shown = reply.content;
    gui_->chat().open(gui_->chat().conversation_id());
    QVERIFY(hearth_test::wait_signal(loaded, 10000));
    QCOMPARE(messages.rowCount(), 2);
    QCOMPARE(messages.contentAt(1), shown);
    QCOMPARE(messages.row(1).stats.tokens > 0, true);
  }

  void escapeStopsTheStream() {
    QVERIFY(start());
    QVERIFY(wait_ready());
    gui_->app().settings()->setProperty("maxTokens", 400);
    // Esc the moment the request is in the engine: the reply ends "cancelled".
    QMetaObject::Connection press_escape;
    press_escape = connect(&gui_->chat(), &hearth::ChatSession::generationSubmitted, this, [&] {
      disconnect(press_escape);
      QTest::keyClick(gui_->window(), Qt::Key_Escape);
    });
    QSignalSpy finished(&gui_->chat(), &hearth::ChatSession::turnFinished);
    QVERIFY(type_and_send(QStringLiteral("Tell me a long story")));
    QVERIFY(hearth_test::wait_signal(finished, 60000));
    QCOMPARE(reason_of(finished), QStringLiteral("cancelled"));
    QVERIFY(!gui_->chat().busy());
    ChatModel& messages = gui_->messages();
    // What streamed before the stop stays (and is saved); an empty reply is dropped.
    QVERIFY(messages.rowCount() == 1 || messages.rowCount() == 2);
    if (messages.rowCount() == 2) {
      QCOMPARE(QString::fromStdString(messages.row(1).stats.finish_reason), QStringLiteral("cancelled"));
      QVERIFY(messages.row(1).stats.tokens < 400);
      QVERIFY(messages.row(1).message_id != 0);
    }
    // The chat goes on after a stop.
    finished.clear();
    gui_->app().settings()->setProperty("maxTokens", 16);
    QVERIFY(type_and_send(QStringLiteral("Another one")));
    QVERIFY(hearth_test::wait_signal(finished, 60000));
    QVERIFY(reason_of(finished) != "cancelled");
  }

  void regenerateAddsABranchAndArrowsSwitch() {
    QVERIFY(start());
    QVERIFY(wait_ready());
    ChatModel& messages = gui_->messages();
    QSignalSpy finished(&gui_->chat(), &hearth::ChatSession::turnFinished);
    QVERIFY(type_and_send(QStringLiteral("The little dog")));
    QVERIFY(hearth_test::wait_signal(finished, 60000));
    const int64_t first_id = messages.row(1).message_id;
    const QString first_text = messages.contentAt(1);
    QCOMPARE(messages.data(messages.index(1), ChatModel::BranchCountRole).toInt(), 1);

    finished.clear();
    QVERIFY(gui_->chat().regenerate(1));
    QVERIFY(messages.row(1).streaming);
    QVERIFY(hearth_test::wait_signal(finished, 60000));
    QCOMPARE(messages.rowCount(), 2);
    QVERIFY(messages.row(1).message_id != first_id);
    QCOMPARE(messages.data(messages.index(1), ChatModel::BranchCountRole).toInt(), 2);
    QCOMPARE(messages.data(messages.index(1), ChatModel::BranchIndexRole).toInt(), 1);
    const int64_t second_id = messages.row(1).message_id;

    QSignalSpy loaded(&gui_->chat(), &hearth::ChatSession::pathLoaded);
    gui_->chat().switchBranch(1, -1);
    QVERIFY(hearth_test::wait_signal(loaded, 10000));
    QCOMPARE(messages.row(1).message_id, first_id);
    QCOMPARE(messages.contentAt(1), first_text);
    QCOMPARE(messages.data(messages.index(1), ChatModel::BranchIndexRole).toInt(), 0);
    loaded.clear();
    gui_->chat().switchBranch(1, -1);  // no branch before the first: nothing happens
    gui_->chat().switchBranch(1, +1);
    QVERIFY(hearth_test::wait_signal(loaded, 10000));
    QCOMPARE(messages.row(1).message_id, second_id);
  }

  void editingAUserMessageStartsABranch() {
    QVERIFY(start());
    QVERIFY(wait_ready());
    ChatModel& messages = gui_->messages();
    QSignalSpy finished(&gui_->chat(), &hearth::ChatSession::turnFinished);
    QVERIFY(type_and_send(QStringLiteral("Hello there")));
    QVERIFY(hearth_test::wait_signal(finished, 60000));
    const QString first_reply = messages.contentAt(1);

    finished.clear();
    QVERIFY(gui_->chat().editMessage(0, QStringLiteral("A different question")));
    QVERIFY(hearth_test::wait_signal(finished, 60000));
    QCOMPARE(messages.rowCount(), 2);
    QCOMPARE(messages.contentAt(0), QStringLiteral("A different question"));
    QCOMPARE(messages.data(messages.index(0), ChatModel::BranchCountRole).toInt(), 2);
    QCOMPARE(messages.data(messages.index(0), ChatModel::BranchIndexRole).toInt(), 1);
    QCOMPARE(messages.data(messages.index(1), ChatModel::BranchCountRole).toInt(), 1);

    QSignalSpy loaded(&gui_->chat(), &hearth::ChatSession::pathLoaded);
    gui_->chat().switchBranch(0, -1);
    QVERIFY(hearth_test::wait_signal(loaded, 10000));
    QCOMPARE(messages.rowCount(), 2);
    QCOMPARE(messages.contentAt(0), QStringLiteral("Hello there"));
    QCOMPARE(messages.contentAt(1), first_reply);
    QCOMPARE(messages.data(messages.index(0), ChatModel::BranchIndexRole).toInt(), 0);
  }

  void aModelThatFailsToLoadShowsTheError() {
    const QString broken = dir_->filePath(QStringLiteral("broken.gguf"));
    QFile f(broken);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("GGUF but not really a model file");
    f.close();
    QVERIFY(start(broken));
    QVERIFY(QTest::qWaitFor([&] { return gui_->app().models()->state() == QLatin1String("failed"); }, 30000));
    const QString error = gui_->app().models()->error();
    QVERIFY2(error.contains(QStringLiteral("broken.gguf")), qPrintable(error));
    QQuickItem* banner = gui_->item("errorBanner_model");
    QVERIFY(banner);
    QTRY_COMPARE(banner->property("text").toString(), error);
    QVERIFY(banner->isVisible());
    // Sending without a model says why.
    QVERIFY(!gui_->chat().send(QStringLiteral("hi")));
    QVERIFY(!gui_->chat().error().isEmpty());
    QCOMPARE(gui_->messages().rowCount(), 0);
    // Opening a good model recovers.
    gui_->app().models()->load(hearth_test::stories_model());
    QVERIFY(wait_ready());
    QTRY_VERIFY(!banner->isVisible());
  }

  void aPromptTooLongForTheContextShowsTheError() {
    QVERIFY(start());
    QVERIFY(wait_ready());
    gui_->app().settings()->setProperty("overflowPolicy", QStringLiteral("error"));
    QString long_text;
    for (int i = 0; i < 800; ++i) long_text += QStringLiteral("word%1 ").arg(i);
    QSignalSpy finished(&gui_->chat(), &hearth::ChatSession::turnFinished);
    QVERIFY(type_and_send(long_text));
    QVERIFY2(hearth_test::wait_signal(finished, 60000), qPrintable(gui_->app().storage_error() + " | " + gui_->chat().error()));
    QCOMPARE(reason_of(finished), QStringLiteral("error"));
    QVERIFY(!gui_->chat().error().isEmpty());
    QCOMPARE(gui_->messages().rowCount(), 1);  // the user message stays; no empty reply
    QQuickItem* banner = gui_->item("errorBanner_chat");
    QVERIFY(banner);
    QTRY_VERIFY(banner->isVisible());
    QVERIFY(banner->property("text").toString().contains(QStringLiteral("Generation failed")));
  }

  void screenshotOfAConversation() {
    QVERIFY(start());
    QVERIFY(wait_ready());
    QSignalSpy finished(&gui_->chat(), &hearth::ChatSession::turnFinished);
    QVERIFY(type_and_send(QStringLiteral("Once upon a time there was a **bold** cat.")));
    QVERIFY(hearth_test::wait_signal(finished, 60000));
    QTest::qWait(200);  // let the view settle (auto-scroll, layout)
    const QImage image = gui_->window()->grabWindow();
    QVERIFY(!image.isNull());
    QCOMPARE(image.size(), gui_->window()->size() * gui_->window()->devicePixelRatio());
    std::set<QRgb> colors;
    for (int y = 0; y < image.height(); y += 7) {
      for (int x = 0; x < image.width(); x += 7) colors.insert(image.pixel(x, y));
    }
    QVERIFY2(colors.size() > 4, "the window rendered as a flat colour");
    const QString path = QCoreApplication::applicationDirPath() + QStringLiteral("/hearth_gui_screenshot.png");
    QVERIFY(image.save(path));
    qInfo("screenshot: %s", qPrintable(path));

    // Ctrl+, opens the settings dialog (every control in it instantiated: a warning fails the
    // test), with the model's info read from the file.
    QObject* dialog = gui_->window()->findChild<QObject*>(QStringLiteral("settingsDialog"));
    QVERIFY(dialog);
    QVERIFY(!dialog->property("visible").toBool());
    QTest::keyClick(gui_->window(), Qt::Key_Comma, Qt::ControlModifier);
    QTRY_VERIFY(dialog->property("opened").toBool());
    QQuickItem* info = gui_->item("modelInfoLabel");
    QVERIFY(info);
    QTRY_VERIFY2(info->property("text").toString().contains(QStringLiteral("llama")),
                 qPrintable(info->property("text").toString()));
    QTest::qWait(100);
    const QString settings_path = QCoreApplication::applicationDirPath() + QStringLiteral("/hearth_gui_settings.png");
    QVERIFY(gui_->window()->grabWindow().save(settings_path));
    QTest::keyClick(gui_->window(), Qt::Key_Escape);
    QTRY_VERIFY(!dialog->property("visible").toBool());
  }

  // Every interactive control of the window and the settings dialog has an accessible name
  // (screen readers read it; the QML sets Accessible.name, buttons may fall back to their text).
  void everyControlHasAnAccessibleName() {
    QAccessible::setActive(true);  // as with a screen reader: controls publish their names
    QVERIFY(start());
    QVERIFY(wait_ready());
    QSignalSpy finished(&gui_->chat(), &hearth::ChatSession::turnFinished);
    QVERIFY(type_and_send(QStringLiteral("Hello")));
    QVERIFY(hearth_test::wait_signal(finished, 60000));
    QTest::keyClick(gui_->window(), Qt::Key_Comma, Qt::ControlModifier);
    QObject* dialog = gui_->window()->findChild<QObject*>(QStringLiteral("settingsDialog"));
    QVERIFY(dialog);
    QTRY_VERIFY(dialog->property("opened").toBool());

    static const char* const kInteractive[] = {"QQuickAbstractButton", "QQuickTextField", "QQuickTextArea",
                                               "QQuickSlider", "QQuickSpinBox", "QQuickComboBox",
                                               "QQuickScrollBar", "QQuickProgressBar"};
    auto interactive = [](const QQuickItem* item) {
      for (const char* type : kInteractive) {
        if (item->inherits(type)) return true;
      }
      return false;
    };
    QStringList unnamed;
    int checked = 0;
    std::function<void(QQuickItem*, bool)> walk = [&](QQuickItem* item, bool inside_control) {
      const bool is_control = interactive(item);
      if (is_control && !inside_control) {  // a control's own parts are the control's business
        ++checked;
        QAccessibleInterface* a = QAccessible::queryAccessibleInterface(item);
        const QString name = a ? a->text(QAccessible::Name) : QString();
        if (name.trimmed().isEmpty()) {
          unnamed << QStringLiteral("%1 '%2' (text '%3')")
                         .arg(QString::fromLatin1(item->metaObject()->className()), item->objectName(),
                              item->property("text").toString());
        }
      }
      for (QQuickItem* child : item->childItems()) walk(child, inside_control || is_control);
    };
    walk(gui_->window()->contentItem()->parentItem() ? gui_->window()->contentItem()->parentItem()
                                                     : gui_->window()->contentItem(),
         false);
    QVERIFY2(checked > 20, qPrintable(QString::number(checked)));
    QAccessible::setActive(false);
    QVERIFY2(unnamed.isEmpty(), qPrintable(unnamed.join('\n')));
  }
};

QTEST_MAIN(TestGuiChat)
#include "test_gui_chat.moc"
