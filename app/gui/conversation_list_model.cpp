#include "app/gui/conversation_list_model.h"

#include <set>
#include <string>
#include <utility>

#include "app/gui/storage_worker.h"

namespace hearth {

ConversationListModel::ConversationListModel(StorageWorker& storage, QObject* parent)
    : QAbstractListModel(parent), storage_(storage) {}

int ConversationListModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(items_.size());
}

QVariant ConversationListModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() < 0 || index.row() >= rowCount()) return {};
  const Item& it = items_[static_cast<size_t>(index.row())];
  switch (role) {
    case IdRole: return static_cast<qint64>(it.id);
    case TitleRole: return it.title;
    case UpdatedAtRole: return it.updated_at_ms;
    case SnippetRole: return it.snippet;
    default: return {};
  }
}

QHash<int, QByteArray> ConversationListModel::roleNames() const {
  return {{IdRole, "conversationId"}, {TitleRole, "title"}, {UpdatedAtRole, "updatedAt"}, {SnippetRole, "snippet"}};
}

void ConversationListModel::setSearchText(const QString& text) {
  if (text == search_text_) return;
  search_text_ = text;
  emit searchTextChanged();
  refresh();
}

void ConversationListModel::refresh() {
  const uint64_t generation = ++generation_;
  const std::string query = search_text_.trimmed().toStdString();
  storage_.post(
      this,
      [query](StorageContext& s) {
        std::vector<Item> items;
        if (query.empty()) {
          for (const Conversation& c : s.conversations.list()) {
            items.push_back({c.id, QString::fromStdString(c.title), c.updated_at_ms, {}});
          }
        } else {
          // One row per conversation: its best hit (title hits come first).
          std::set<int64_t> seen;
          for (const SearchHit& h : s.conversations.search(query)) {
            if (!seen.insert(h.conversation_id).second) continue;
            items.push_back({h.conversation_id, QString::fromStdString(h.conversation_title), 0,
                             QString::fromStdString(h.snippet)});
          }
        }
        return items;
      },
      [this, generation](std::vector<Item> items) { apply(std::move(items), generation); });
}

void ConversationListModel::apply(std::vector<Item> items, uint64_t generation) {
  if (generation != generation_) return;
  beginResetModel();
  items_ = std::move(items);
  endResetModel();
  emit countChanged();
  emit refreshed();
}

void ConversationListModel::createConversation(const QString& title) {
  storage_.post(
      this, [title = title.toStdString()](StorageContext& s) { return s.conversations.create(title); },
      [this](int64_t id) {
        refresh();
        emit created(id);
      });
}

void ConversationListModel::rename(qint64 id, const QString& title) {
  const QString trimmed = title.trimmed();
  if (trimmed.isEmpty()) return;
  storage_.post(
      this, [id, title = trimmed.toStdString()](StorageContext& s) { s.conversations.rename(id, title); },
      [this] { refresh(); });
}

void ConversationListModel::remove(qint64 id) {
  const int row = rowOf(id);
  undo_id_ = id;
  undo_title_ = row >= 0 ? items_[static_cast<size_t>(row)].title : QString();
  emit undoChanged();
  storage_.post(
      this, [id](StorageContext& s) { s.conversations.soft_delete(id); },
      [this, id] {
        refresh();
        emit removed(id);
      });
}

void ConversationListModel::undoRemove() {
  const int64_t id = undo_id_;
  if (id == 0) return;
  undo_id_ = 0;
  undo_title_.clear();
  emit undoChanged();
  storage_.post(
      this, [id](StorageContext& s) { s.conversations.restore(id); },
      [this, id] {
        refresh();
        emit restored(id);
      });
}

qint64 ConversationListModel::idAt(int row) const {
  return row >= 0 && row < rowCount() ? items_[static_cast<size_t>(row)].id : 0;
}

QString ConversationListModel::titleAt(int row) const {
  return row >= 0 && row < rowCount() ? items_[static_cast<size_t>(row)].title : QString();
}

int ConversationListModel::rowOf(qint64 id) const {
  for (size_t i = 0; i < items_.size(); ++i) {
    if (items_[i].id == id) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace hearth
