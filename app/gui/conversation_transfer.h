#pragma once
// ConversationTransfer: export a conversation to Markdown (the branch shown) or JSON (every
// branch; storage/conversation_export.h has the format) and import such a JSON file as a new
// conversation. Files are read and written on the storage worker (never on the GUI thread);
// a file is written whole or not at all (QSaveFile).
//
// `file` is a local path or a file:// URL (what QtQuick.Dialogs' FileDialog gives).
#include <QtQml/qqmlregistration.h>

#include <QObject>
#include <QString>

namespace hearth {

class StorageWorker;

class ConversationTransfer : public QObject {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("ConversationTransfer is created by the app")
  Q_PROPERTY(bool busy READ busy NOTIFY busyChanged)
  Q_PROPERTY(QString message READ message NOTIFY messageChanged)  // the last outcome, for the UI
  Q_PROPERTY(QString error READ error NOTIFY messageChanged)      // the last failure; empty after a success

 public:
  explicit ConversationTransfer(StorageWorker& storage, QObject* parent = nullptr);

  bool busy() const { return pending_ > 0; }
  QString message() const { return message_; }
  QString error() const { return error_; }

  Q_INVOKABLE void exportMarkdown(qint64 conversation_id, const QString& file);
  Q_INVOKABLE void exportJson(qint64 conversation_id, const QString& file);
  Q_INVOKABLE void importJson(const QString& file);
  Q_INVOKABLE void clearMessage();

  // "file:///tmp/a.json" -> "/tmp/a.json"; a plain path stays.
  static QString local_path(const QString& file);

 signals:
  void busyChanged();
  void messageChanged();
  void exported(const QString& path);
  void imported(qint64 conversation_id);  // the new conversation (the list should refresh)
  void failed(const QString& error);

 private:
  enum class Format { kMarkdown, kJson };
  void export_as(Format format, qint64 conversation_id, const QString& file);
  void begin();
  void finish(const QString& message, const QString& error);

  StorageWorker& storage_;
  int pending_ = 0;
  QString message_;
  QString error_;
};

}  // namespace hearth
