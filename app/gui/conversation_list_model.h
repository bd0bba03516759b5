#pragma once
// ConversationListModel: the sidebar. Lists conversations (most recently updated first) or,
// while searchText is set, the full-text search hits (FTS5, through ConversationStore::search).
// New, rename, delete with undo (soft delete, restored by undoRemove). All database work goes
// through the StorageWorker; the list refreshes when a job that changes it has finished.
#include <QtQml/qqmlregistration.h>

#include <QAbstractListModel>
#include <QString>
#include <cstdint>
#include <vector>

namespace hearth {

class StorageWorker;

class ConversationListModel : public QAbstractListModel {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("ConversationListModel is created by the app")
  Q_PROPERTY(int count READ rowCount NOTIFY countChanged)
  Q_PROPERTY(QString searchText READ search_text WRITE setSearchText NOTIFY searchTextChanged)
  Q_PROPERTY(bool canUndo READ can_undo NOTIFY undoChanged)
  Q_PROPERTY(QString undoTitle READ undo_title NOTIFY undoChanged)

 public:
  enum Roles { IdRole = Qt::UserRole + 1, TitleRole, UpdatedAtRole, SnippetRole };

  explicit ConversationListModel(StorageWorker& storage, QObject* parent = nullptr);

  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QHash<int, QByteArray> roleNames() const override;

  QString search_text() const { return search_text_; }
  void setSearchText(const QString& text);
  bool can_undo() const { return undo_id_ != 0; }
  QString undo_title() const { return undo_title_; }

  Q_INVOKABLE void refresh();
  Q_INVOKABLE void createConversation(const QString& title);  // created(id) when saved
  Q_INVOKABLE void rename(qint64 id, const QString& title);
  Q_INVOKABLE void remove(qint64 id);                           // removed(id); undoable
  Q_INVOKABLE void undoRemove();
  Q_INVOKABLE qint64 idAt(int row) const;
  Q_INVOKABLE QString titleAt(int row) const;
  Q_INVOKABLE int rowOf(qint64 id) const;                       // -1 when not listed

 signals:
  void countChanged();
  void searchTextChanged();
  void undoChanged();
  void refreshed();
  void created(qint64 id);
  void removed(qint64 id);
  void restored(qint64 id);

 private:
  struct Item {
    int64_t id = 0;
    QString title;
    qint64 updated_at_ms = 0;
    QString snippet;  // search hits: the matching text, terms marked with [ ]
  };
  void apply(std::vector<Item> items, uint64_t generation);

  StorageWorker& storage_;
  std::vector<Item> items_;
  QString search_text_;
  uint64_t generation_ = 0;  // a newer refresh makes an older result stale
  int64_t undo_id_ = 0;
  QString undo_title_;
};

}  // namespace hearth
