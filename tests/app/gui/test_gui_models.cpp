// The Models dialog (ui/qml/ModelsDialog.qml) in the running app: opened from the main window's
// toolbar button; the info and GPU memory estimate of the loaded model; choosing, loading and
// unloading a model; the catalog; a refused download request and a failed download shown with
// their errors; every control named for screen readers; no QML warning at run time.
#include <QAccessible>
#include <QDir>
#include <QFile>
#include <QImage>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QtQml/qqmlextensionplugin.h>
#include <algorithm>
#include <functional>
#include <memory>

#include "app/gui/model_catalog.h"
#include "tests/app/gui/gui_test_fixture.h"

Q_IMPORT_QML_PLUGIN(HearthPlugin)

using hearth_test::GuiApp;

class TestGuiModels : public QObject, private hearth_test::GuiTestCase {
  Q_OBJECT

 private:
  bool click(const char* object_name) {
    QQuickItem* item = gui_->item(object_name);
    if (!item || !item->isVisible() || !item->isEnabled()) return false;
    // Scrolled out of view: scroll its Flickable (the dialog's ScrollView) to it first, as a user
    // would, until the item's centre is inside the Flickable (its content may still be growing).
    QPointF center;
    for (int attempt = 0; attempt < 40; ++attempt) {
      center = item->mapToScene(QPointF(item->width() / 2, item->height() / 2));
      QQuickItem* flickable = item->parentItem();
      while (flickable && !flickable->inherits("QQuickFlickable")) flickable = flickable->parentItem();
      if (!flickable) break;
      const QPointF inside = flickable->mapFromScene(center);
      if (inside.y() > 0 && inside.y() < flickable->height()) break;
      QQuickItem* content = flickable->property("contentItem").value<QQuickItem*>();
      if (!content) break;
      const qreal y = item->mapToItem(content, QPointF(0, 0)).y();
      flickable->setProperty("contentY", std::max<qreal>(0, y - flickable->height() / 2));
      QTest::qWait(50);
    }
    qInfo("click %s at %.0f,%.0f", object_name, center.x(), center.y());
    QTest::mouseClick(gui_->window(), Qt::LeftButton, Qt::NoModifier, center.toPoint());
    return true;
  }
  QObject* open_dialog() {
    if (!click("modelsButton")) return nullptr;
    QObject* dialog = gui_->window()->findChild<QObject*>(QStringLiteral("modelsDialog"));
    if (!dialog || !QTest::qWaitFor([&] { return dialog->property("opened").toBool(); }, 5000)) return nullptr;
    return dialog;
  }
  QString text_of(const char* object_name) {
    QQuickItem* item = gui_->item(object_name);
    return item ? item->property("text").toString() : QString();
  }
  // Interactive controls inside the dialog without an accessible name (as test_gui_chat checks
  // the window).
  QStringList unnamed_controls(int& checked) {
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
    std::function<void(QQuickItem*, bool)> walk = [&](QQuickItem* item, bool inside_control) {
      const bool is_control = interactive(item);
      if (is_control && !inside_control && item->isVisible()) {
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
    QQuickItem* content = gui_->window()->contentItem();
    walk(content->parentItem() ? content->parentItem() : content, false);
    return unnamed;
  }

 private slots:
  void init() { QVERIFY(begin_test()); }
  void cleanup() {
    const QString warnings = end_test();
    QVERIFY2(warnings.isEmpty(), qPrintable(warnings));
  }

  void showsInfoAndEstimateOfTheLoadedModel() {
    new_app();
    QVERIFY(gui_->start());
    QVERIFY2(wait_ready(), qPrintable(gui_->app().models()->error()));
    QVERIFY(text_of("modelsButton").contains(QLatin1String("stories260K.gguf")));
    QObject* dialog = open_dialog();
    QVERIFY(dialog);
    QTRY_COMPARE(text_of("candidateArchitecture"), QStringLiteral("llama"));
    QTRY_VERIFY(!text_of("memoryEstimateLabel").isEmpty());
    QVERIFY2(text_of("memoryEstimateLabel").contains(QLatin1String("GiB")), qPrintable(text_of("memoryEstimateLabel")));
    QVERIFY(!text_of("modelDeviceLabel").isEmpty());
    // One row per catalog entry.
    QCOMPARE(gui_->items("catalogDownloadButton").size(),
             static_cast<qsizetype>(hearth::bundled_model_catalog().entries.size()));

    QQuickWindow* window = gui_->window();
    QImage shot = window->grabWindow();
    QVERIFY(!shot.isNull());
    QVERIFY(shot.save(QStringLiteral("hearth_models_dialog.png")));
    qInfo("screenshot: %s", qPrintable(QDir::current().filePath(QStringLiteral("hearth_models_dialog.png"))));
  }

  void loadsUnloadsAndSwitches() {
    // A second copy of the model under another name, "downloaded" into the models folder.
    const QString models_dir = QDir(dir_->path()).filePath(QStringLiteral("models"));
    QVERIFY(QDir().mkpath(models_dir));
    const QString copy = QDir(models_dir).filePath(QStringLiteral("copy.gguf"));
    QVERIFY(QFile::copy(hearth_test::stories_model(), copy));
    new_app();
    QVERIFY(gui_->start());
    QVERIFY(wait_ready());
    QVERIFY(open_dialog());
    QTRY_COMPARE(text_of("candidateArchitecture"), QStringLiteral("llama"));
    QVERIFY(click("unloadModelButton"));
    QTRY_COMPARE(gui_->app().models()->state(), QStringLiteral("none"));
    gui_->app().models()->inspect(QUrl::fromLocalFile(copy).toString());
    QTRY_COMPARE(text_of("candidatePathLabel"), copy);
    QQuickItem* load = gui_->item("loadSelectedButton");
    QVERIFY(load);
    QTRY_VERIFY2(load->isEnabled() && load->isVisible(),
                 qPrintable(QStringLiteral("enabled %1 visible %2 state %3").arg(load->isEnabled()).arg(load->isVisible())
                                .arg(gui_->app().models()->state())));
    QVERIFY(click("loadSelectedButton"));
    QVERIFY(wait_ready());
    QCOMPARE(gui_->app().models()->path(), copy);
    QVERIFY(gui_->app().models()->recent_models().contains(copy));
    QTRY_VERIFY(text_of("modelsButton").contains(QLatin1String("copy.gguf")));
    // A file that is not a model: its error is shown, and it cannot be loaded.
    const QString junk = QDir(models_dir).filePath(QStringLiteral("junk.gguf"));
    QFile f(junk);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("not a gguf file at all");
    f.close();
    gui_->app().models()->inspect(junk);
    QTRY_VERIFY(!text_of("candidateError").isEmpty());
    QVERIFY(gui_->item("loadSelectedButton") && !gui_->item("loadSelectedButton")->isEnabled());
  }

  void downloadErrorsAreShownAndControlsNamed() {
    QAccessible::setActive(true);
    new_app();
    QVERIFY(gui_->start());
    QVERIFY(wait_ready());
    QVERIFY(open_dialog());
    QTRY_COMPARE(text_of("candidateArchitecture"), QStringLiteral("llama"));  // the layout is settled
    // Plain http to another host is refused before anything is fetched.
    QQuickItem* url = gui_->item("downloadUrlField");
    QVERIFY(url);
    url->setProperty("text", QStringLiteral("http://example.com/model.gguf"));
    QVERIFY(click("downloadUrlButton"));
    QTRY_VERIFY2(text_of("downloadRequestError").contains(QLatin1String("https")),
                 qPrintable(gui_->app().downloads()->error() + QStringLiteral(" / ") + text_of("downloadRequestError")));
    // A download that fails (nothing listens on port 1): its row shows the error and Resume.
    hearth::DownloadJob* job = gui_->app().downloads()->downloadUrl(QStringLiteral("https://127.0.0.1:1/model.gguf"));
    QVERIFY(job);
    QTRY_COMPARE(job->state(), QStringLiteral("failed"));
    QTRY_VERIFY(!text_of("downloadError").isEmpty());
    int checked = 0;
    const QStringList unnamed = unnamed_controls(checked);
    QAccessible::setActive(false);
    QVERIFY2(checked > 15, qPrintable(QString::number(checked)));
    QVERIFY2(unnamed.isEmpty(), qPrintable(unnamed.join('\n')));
  }
};

QTEST_MAIN(TestGuiModels)
#include "test_gui_models.moc"
