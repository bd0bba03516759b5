#pragma once
// ChatModel: the messages of the branch shown (root .. active leaf), one row each, for the chat
// ListView. Rows change only on the GUI thread, through ChatSession.
#include <QtQml/qqmlregistration.h>

#include <QAbstractListModel>
#include <QString>
#include <cstdint>
#include <optional>
#include <vector>

#include "app/gui/message_stats.h"
#include "storage/conversation_types.h"

namespace hearth {

struct ChatRow {
  int64_t message_id = 0;                // 0 until the database has it
  std::optional<int64_t> parent_id;
  Role role = Role::User;
  QString content;
  bool streaming = false;
  bool dropped = false;                  // left out of the last prompt: the context was full
  QString error;                         // why the generation failed, shown under the message
  MessageStats stats;                    // assistant messages
  std::vector<int64_t> sibling_ids;      // this message and its siblings (same parent), oldest first
};

class ChatModel : public QAbstractListModel {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("ChatModel belongs to a ChatSession")
  Q_PROPERTY(int count READ rowCount NOTIFY countChanged)

 public:
  enum Roles {
    RoleRole = Qt::UserRole + 1,  // "user", "assistant", "system"
    ContentRole,
    StreamingRole,
    ErrorRole,
    MessageIdRole,
    TtftMsRole,
    TokensPerSecondRole,
    TokensRole,
    DeviceRole,
    FinishReasonRole,
    TruncatedTokensRole,
    CachedTokensRole,
    RestoredTokensRole,
    BranchIndexRole,              // 0-based position among siblings
    BranchCountRole,
    DroppedRole,
    JoulesPerTokenRole,
  };

  using QAbstractListModel::QAbstractListModel;

  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QHash<int, QByteArray> roleNames() const override;

  const std::vector<ChatRow>& rows() const { return rows_; }
  const ChatRow& row(int i) const { return rows_.at(static_cast<size_t>(i)); }

  void reset(std::vector<ChatRow> rows);
  void append(ChatRow row);
  void truncate(int count);                    // keeps rows [0, count)
  void append_text(int i, const QString& text);  // a streamed delta
  void replace(int i, ChatRow row);            // everything of one row changed
  void set_dropped(const std::vector<int>& rows);  // exactly these rows are marked dropped

  // Tests and QML: the row's text.
  Q_INVOKABLE QString contentAt(int i) const;
  Q_INVOKABLE QString roleAt(int i) const;
  Q_INVOKABLE bool droppedAt(int i) const;

 signals:
  void countChanged();

 private:
  std::vector<ChatRow> rows_;
};

}  // namespace hearth
