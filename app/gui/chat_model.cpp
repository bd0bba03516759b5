#include "app/gui/chat_model.h"

#include <algorithm>

namespace hearth {

int ChatModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

QVariant ChatModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() < 0 || index.row() >= rowCount()) return {};
  const ChatRow& r = rows_[static_cast<size_t>(index.row())];
  switch (role) {
    case RoleRole: return QString::fromUtf8(role_name(r.role).data(), static_cast<qsizetype>(role_name(r.role).size()));
    case ContentRole: return r.content;
    case StreamingRole: return r.streaming;
    case ErrorRole: return r.error;
    case MessageIdRole: return static_cast<qint64>(r.message_id);
    case TtftMsRole: return r.stats.ttft_ms;
    case TokensPerSecondRole: return r.stats.tokens_per_second;
    case TokensRole: return static_cast<qint64>(r.stats.tokens);
    case DeviceRole: return QString::fromStdString(r.stats.device);
    case FinishReasonRole: return QString::fromStdString(r.stats.finish_reason);
    case TruncatedTokensRole: return static_cast<qint64>(r.stats.truncated_tokens);
    case CachedTokensRole: return static_cast<qint64>(r.stats.cached_tokens);
    case RestoredTokensRole: return static_cast<qint64>(r.stats.restored_tokens);
    case BranchIndexRole: {
      auto it = std::find(r.sibling_ids.begin(), r.sibling_ids.end(), r.message_id);
      return it == r.sibling_ids.end() ? 0 : static_cast<int>(it - r.sibling_ids.begin());
    }
    case BranchCountRole: return std::max(1, static_cast<int>(r.sibling_ids.size()));
    case DroppedRole: return r.dropped;
    case JoulesPerTokenRole: return r.stats.joules_per_token;
    default: return {};
  }
}

QHash<int, QByteArray> ChatModel::roleNames() const {
  return {{RoleRole, "role"},
          {ContentRole, "content"},
          {StreamingRole, "streaming"},
          {ErrorRole, "errorText"},
          {MessageIdRole, "messageId"},
          {TtftMsRole, "ttftMs"},
          {TokensPerSecondRole, "tokensPerSecond"},
          {TokensRole, "tokens"},
          {DeviceRole, "device"},
          {FinishReasonRole, "finishReason"},
          {TruncatedTokensRole, "truncatedTokens"},
          {CachedTokensRole, "cachedTokens"},
          {RestoredTokensRole, "restoredTokens"},
          {BranchIndexRole, "branchIndex"},
          {BranchCountRole, "branchCount"},
          {DroppedRole, "dropped"},
          {JoulesPerTokenRole, "joulesPerToken"}};
}

void ChatModel::reset(std::vector<ChatRow> rows) {
  beginResetModel();
  rows_ = std::move(rows);
  endResetModel();
  emit countChanged();
}

void ChatModel::append(ChatRow row) {
  const int at = rowCount();
  beginInsertRows({}, at, at);
  rows_.push_back(std::move(row));
  endInsertRows();
  emit countChanged();
}

void ChatModel::truncate(int count) {
  count = std::clamp(count, 0, rowCount());
  if (count == rowCount()) return;
  beginRemoveRows({}, count, rowCount() - 1);
  rows_.resize(static_cast<size_t>(count));
  endRemoveRows();
  emit countChanged();
}

void ChatModel::append_text(int i, const QString& text) {
  if (i < 0 || i >= rowCount() || text.isEmpty()) return;
  rows_[static_cast<size_t>(i)].content += text;
  const QModelIndex at = index(i);
  emit dataChanged(at, at, {ContentRole});
}

void ChatModel::replace(int i, ChatRow row) {
  if (i < 0 || i >= rowCount()) return;
  rows_[static_cast<size_t>(i)] = std::move(row);
  const QModelIndex at = index(i);
  emit dataChanged(at, at);
}

QString ChatModel::contentAt(int i) const { return i >= 0 && i < rowCount() ? row(i).content : QString(); }

QString ChatModel::roleAt(int i) const {
  if (i < 0 || i >= rowCount()) return {};
  const auto name = role_name(row(i).role);
  return QString::fromUtf8(name.data(), static_cast<qsizetype>(name.size()));
}

}  // namespace hearth

namespace hearth {

void ChatModel::set_dropped(const std::vector<int>& rows) {
  for (int i = 0; i < rowCount(); ++i) {
    const bool dropped = std::find(rows.begin(), rows.end(), i) != rows.end();
    if (rows_[static_cast<size_t>(i)].dropped == dropped) continue;
    rows_[static_cast<size_t>(i)].dropped = dropped;
    const QModelIndex at = index(i);
    emit dataChanged(at, at, {DroppedRole});
  }
}

bool ChatModel::droppedAt(int i) const { return i >= 0 && i < rowCount() && row(i).dropped; }

}  // namespace hearth
