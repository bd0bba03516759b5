#include "app/gui/conversation_transfer.h"

#include <QFile>
#include <QSaveFile>
#include <QUrl>
#include <string>

#include "app/gui/storage_worker.h"
#include "storage/conversation_export.h"

namespace hearth {
namespace {

struct Outcome {
  QString path;
  int64_t conversation_id = 0;
  QString error;  // empty: it worked
};

void write_file(const QString& path, const std::string& text) {
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly)) throw Error("cannot write " + path.toStdString() + ": " + file.errorString().toStdString());
  if (file.write(text.data(), static_cast<qint64>(text.size())) != static_cast<qint64>(text.size()) || !file.commit()) {
    throw Error("cannot write " + path.toStdString() + ": " + file.errorString().toStdString());
  }
}

std::string read_file(const QString& path) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly)) throw Error("cannot read " + path.toStdString() + ": " + file.errorString().toStdString());
  if (file.size() > static_cast<qint64>(kMaxImportBytes)) {
    throw Error(path.toStdString() + " is larger than " + std::to_string(kMaxImportBytes >> 20) + " MiB");
  }
  const QByteArray bytes = file.read(static_cast<qint64>(kMaxImportBytes) + 1);
  if (static_cast<size_t>(bytes.size()) > kMaxImportBytes) throw Error(path.toStdString() + " is too large");
  return bytes.toStdString();
}

}  // namespace

ConversationTransfer::ConversationTransfer(StorageWorker& storage, QObject* parent) : QObject(parent), storage_(storage) {}

QString ConversationTransfer::local_path(const QString& file) {
  if (file.startsWith(QLatin1String("file:"))) return QUrl(file).toLocalFile();
  return file;
}

void ConversationTransfer::exportMarkdown(qint64 conversation_id, const QString& file) {
  export_as(Format::kMarkdown, conversation_id, file);
}

void ConversationTransfer::exportJson(qint64 conversation_id, const QString& file) {
  export_as(Format::kJson, conversation_id, file);
}

void ConversationTransfer::export_as(Format format, qint64 conversation_id, const QString& file) {
  const QString path = local_path(file);
  begin();
  storage_.post(
      this,
      [format, conversation_id, path](StorageContext& s) {
        try {
          const std::string text = format == Format::kMarkdown ? export_markdown(s.conversations, conversation_id)
                                                               : export_json(s.conversations, conversation_id);
          write_file(path, text);
          return Outcome{path, conversation_id, {}};
        } catch (const std::exception& e) {
          return Outcome{path, conversation_id, QString::fromStdString(e.what())};
        }
      },
      [this](Outcome o) {
        if (!o.error.isEmpty()) {
          finish({}, tr("Export failed: %1").arg(o.error));
          return;
        }
        finish(tr("Exported to %1").arg(o.path), {});
        emit exported(o.path);
      });
}

void ConversationTransfer::importJson(const QString& file) {
  const QString path = local_path(file);
  begin();
  storage_.post(
      this,
      [path](StorageContext& s) {
        try {
          const int64_t id = import_json(s.conversations, read_file(path));
          return Outcome{path, id, {}};
        } catch (const std::exception& e) {
          return Outcome{path, 0, QString::fromStdString(e.what())};
        }
      },
      [this](Outcome o) {
        if (!o.error.isEmpty()) {
          finish({}, tr("Import failed: %1").arg(o.error));
          return;
        }
        finish(tr("Imported %1").arg(o.path), {});
        emit imported(o.conversation_id);
      });
}

void ConversationTransfer::clearMessage() {
  message_.clear();
  error_.clear();
  emit messageChanged();
}

void ConversationTransfer::begin() {
  if (pending_++ == 0) emit busyChanged();
}

void ConversationTransfer::finish(const QString& message, const QString& error) {
  if (pending_ > 0 && --pending_ == 0) emit busyChanged();
  message_ = error.isEmpty() ? message : error;
  error_ = error;
  emit messageChanged();
  if (!error.isEmpty()) emit failed(error);
}

}  // namespace hearth
