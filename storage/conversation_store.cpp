#include "storage/conversation_store.h"

#include <chrono>
#include <string>

#include <fmt/format.h>

#include "storage/conversation_schema.h"
#include "storage/json_fields.h"

namespace hearth {
namespace {

constexpr std::string_view kConversationColumns =
    "id, title, created_at, updated_at, model, system_prompt, sampling_json, deleted_at, active_leaf_id";
constexpr std::string_view kMessageColumns =
    "id, conversation_id, parent_id, role, content, prompt_tokens, completion_tokens, timings_json, created_at";

Conversation read_conversation(const Statement& st) {
  Conversation c;
  c.id = st.int64(0);
  c.title = st.text(1);
  c.created_at_ms = st.int64(2);
  c.updated_at_ms = st.int64(3);
  c.settings.model = st.text(4);
  c.settings.system_prompt = st.text(5);
  c.settings.sampling_json = st.text(6);
  c.deleted_at_ms = st.optional_int64(7);
  c.active_leaf_id = st.optional_int64(8);
  return c;
}

Message read_message(const Statement& st) {
  Message m;
  m.id = st.int64(0);
  m.conversation_id = st.int64(1);
  m.parent_id = st.optional_int64(2);
  // The CHECK constraint keeps roles valid; a foreign file edited by hand reads as "user".
  m.role = parse_role(st.text(3)).value_or(Role::User);
  m.content = st.text(4);
  m.prompt_tokens = st.int64(5);
  m.completion_tokens = st.int64(6);
  m.timings_json = st.text(7);
  m.created_at_ms = st.int64(8);
  return m;
}

std::vector<Message> read_messages(Statement& st) {
  std::vector<Message> out;
  while (st.step()) out.push_back(read_message(st));
  return out;
}

bool is_word_byte(unsigned char c) { return c >= 0x80 || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'); }

// User text -> an FTS5 query: every word a quoted phrase (so quotes, AND, NEAR, *, : are just
// text), all required, the last one a prefix so results follow typing.
std::string fts_query(std::string_view text) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
    size_t j = i;
    while (j < text.size() && !(text[j] == ' ' || text[j] == '\t' || text[j] == '\n' || text[j] == '\r')) ++j;
    std::string_view word = text.substr(i, j - i);
    bool has_word_char = false;
    for (unsigned char c : word) has_word_char |= is_word_byte(c);
    if (has_word_char) {
      std::string quoted = "\"";
      for (char c : word) {
        if (c == '"') quoted += '"';
        quoted += c;
      }
      quoted += '"';
      words.push_back(std::move(quoted));
    }
    i = j;
  }
  std::string query;
  for (size_t k = 0; k < words.size(); ++k) {
    if (k) query += ' ';
    query += words[k];
    if (k + 1 == words.size()) query += '*';
  }
  return query;
}

}  // namespace

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ConversationStore::ConversationStore(Database& db) : db_(db) { migrate_conversation_schema(db_); }

Conversation ConversationStore::require(int64_t id) {
  auto c = get(id);
  if (!c) throw Error(fmt::format("no conversation with id {}", id));
  return *c;
}

void ConversationStore::touch(int64_t id, int64_t now) {
  db_.prepare("UPDATE conversations SET updated_at = max(updated_at, ?2) WHERE id = ?1").bind(1, id).bind(2, now).run();
}

int64_t ConversationStore::create(std::string_view title, const ConversationSettings& settings) {
  require_json_object(settings.sampling_json, "sampling settings");
  const int64_t now = now_ms();
  auto st = db_.prepare(
      "INSERT INTO conversations (title, created_at, updated_at, model, system_prompt, sampling_json) "
      "VALUES (?1, ?2, ?2, ?3, ?4, ?5)");
  st.bind(1, title).bind(2, now).bind(3, settings.model).bind(4, settings.system_prompt).bind(5, settings.sampling_json);
  st.run();
  return db_.last_insert_id();
}

std::optional<Conversation> ConversationStore::get(int64_t id) {
  auto st = db_.prepare(fmt::format("SELECT {} FROM conversations WHERE id = ?1", kConversationColumns));
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_conversation(st);
}

std::vector<Conversation> ConversationStore::list(int limit) {
  auto st = db_.prepare(fmt::format(
      "SELECT {} FROM conversations WHERE deleted_at IS NULL ORDER BY updated_at DESC, id DESC LIMIT ?1",
      kConversationColumns));
  st.bind(1, int64_t{limit});
  std::vector<Conversation> out;
  while (st.step()) out.push_back(read_conversation(st));
  return out;
}

std::vector<Conversation> ConversationStore::list_deleted() {
  auto st = db_.prepare(fmt::format(
      "SELECT {} FROM conversations WHERE deleted_at IS NOT NULL ORDER BY deleted_at DESC, id DESC",
      kConversationColumns));
  std::vector<Conversation> out;
  while (st.step()) out.push_back(read_conversation(st));
  return out;
}

void ConversationStore::rename(int64_t id, std::string_view title) {
  require(id);
  auto tx = db_.transaction();
  db_.prepare("UPDATE conversations SET title = ?2 WHERE id = ?1").bind(1, id).bind(2, title).run();
  touch(id, now_ms());
  tx.commit();
}

void ConversationStore::update_settings(int64_t id, const ConversationSettings& settings) {
  require_json_object(settings.sampling_json, "sampling settings");
  require(id);
  auto tx = db_.transaction();
  db_.prepare("UPDATE conversations SET model = ?2, system_prompt = ?3, sampling_json = ?4 WHERE id = ?1")
      .bind(1, id)
      .bind(2, settings.model)
      .bind(3, settings.system_prompt)
      .bind(4, settings.sampling_json)
      .run();
  touch(id, now_ms());
  tx.commit();
}

void ConversationStore::soft_delete(int64_t id) {
  require(id);
  db_.prepare("UPDATE conversations SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL")
      .bind(1, id)
      .bind(2, now_ms())
      .run();
}

void ConversationStore::restore(int64_t id) {
  require(id);
  db_.prepare("UPDATE conversations SET deleted_at = NULL WHERE id = ?1").bind(1, id).run();
}

int ConversationStore::purge_deleted(int64_t deleted_before_ms) {
  auto tx = db_.transaction();
  db_.prepare("DELETE FROM conversations WHERE deleted_at IS NOT NULL AND deleted_at < ?1").bind(1, deleted_before_ms).run();
  const int removed = db_.changes();
  tx.commit();
  return removed;
}

void ConversationStore::erase(int64_t id) {
  require(id);
  db_.prepare("DELETE FROM conversations WHERE id = ?1").bind(1, id).run();
}

int64_t ConversationStore::add_message(int64_t conversation_id, const NewMessage& message) {
  require_json_object(message.timings_json, "message timings");
  if (message.prompt_tokens < 0 || message.completion_tokens < 0) throw Error("token counts must not be negative");
  auto tx = db_.transaction();
  require(conversation_id);
  if (message.parent_id) {
    auto parent = this->message(*message.parent_id);
    if (!parent || parent->conversation_id != conversation_id) {
      throw Error(fmt::format("message {} is not a message of conversation {}", *message.parent_id, conversation_id));
    }
  }
  const int64_t now = now_ms();
  auto st = db_.prepare(
      "INSERT INTO messages (conversation_id, parent_id, role, content, prompt_tokens, completion_tokens, "
      "timings_json, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  st.bind(1, conversation_id)
      .bind(2, message.parent_id)
      .bind(3, role_name(message.role))
      .bind(4, message.content)
      .bind(5, message.prompt_tokens)
      .bind(6, message.completion_tokens)
      .bind(7, message.timings_json)
      .bind(8, now);
  st.run();
  const int64_t id = db_.last_insert_id();
  db_.prepare("UPDATE conversations SET active_leaf_id = ?2, updated_at = max(updated_at, ?3) WHERE id = ?1")
      .bind(1, conversation_id)
      .bind(2, id)
      .bind(3, now)
      .run();
  tx.commit();
  return id;
}

std::optional<Message> ConversationStore::message(int64_t id) {
  auto st = db_.prepare(fmt::format("SELECT {} FROM messages WHERE id = ?1", kMessageColumns));
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_message(st);
}

std::vector<Message> ConversationStore::children(int64_t conversation_id, std::optional<int64_t> parent_id) {
  auto st = db_.prepare(fmt::format(
      "SELECT {} FROM messages WHERE conversation_id = ?1 AND parent_id IS ?2 ORDER BY id", kMessageColumns));
  st.bind(1, conversation_id).bind(2, parent_id);
  return read_messages(st);
}

std::vector<Message> ConversationStore::all_messages(int64_t conversation_id) {
  auto st = db_.prepare(fmt::format("SELECT {} FROM messages WHERE conversation_id = ?1 ORDER BY id", kMessageColumns));
  st.bind(1, conversation_id);
  return read_messages(st);
}

std::vector<Message> ConversationStore::active_path(int64_t conversation_id) {
  const Conversation c = require(conversation_id);
  std::optional<int64_t> leaf = c.active_leaf_id;
  if (!leaf) {
    auto st = db_.prepare("SELECT max(id) FROM messages WHERE conversation_id = ?1");
    st.bind(1, conversation_id);
    if (st.step()) leaf = st.optional_int64(0);
  }
  if (!leaf) return {};
  // Walk up the parents; parents always have smaller ids (they existed first), so the walk ends.
  auto st = db_.prepare(fmt::format(
      "WITH RECURSIVE path(id, depth) AS ("
      "  SELECT ?1, 0"
      "  UNION ALL SELECT m.parent_id, path.depth + 1 FROM messages m JOIN path ON m.id = path.id"
      "  WHERE m.parent_id IS NOT NULL AND m.parent_id < m.id) "
      "SELECT {} FROM path JOIN messages USING (id) WHERE conversation_id = ?2 ORDER BY path.depth DESC",
      kMessageColumns));
  st.bind(1, *leaf).bind(2, conversation_id);
  return read_messages(st);
}

int64_t ConversationStore::select_branch(int64_t message_id) {
  auto start = message(message_id);
  if (!start) throw Error(fmt::format("no message with id {}", message_id));
  auto tx = db_.transaction();
  int64_t leaf = message_id;
  auto newest_child = db_.prepare("SELECT max(id) FROM messages WHERE parent_id = ?1");
  for (;;) {
    newest_child.reset();
    newest_child.bind(1, leaf);
    if (!newest_child.step() || newest_child.is_null(0)) break;
    leaf = newest_child.int64(0);
  }
  newest_child.reset();
  db_.prepare("UPDATE conversations SET active_leaf_id = ?2 WHERE id = ?1").bind(1, start->conversation_id).bind(2, leaf).run();
  tx.commit();
  return leaf;
}

std::vector<SearchHit> ConversationStore::search(std::string_view query, const SearchOptions& options) {
  const std::string match = fts_query(query);
  std::vector<SearchHit> hits;
  if (match.empty() || options.limit <= 0) return hits;
  auto titles = db_.prepare(
      "SELECT c.id, c.title, highlight(title_fts, 0, ?2, ?3) FROM title_fts "
      "JOIN conversations c ON c.id = title_fts.rowid "
      "WHERE title_fts MATCH ?1 AND c.deleted_at IS NULL ORDER BY title_fts.rank LIMIT ?4");
  titles.bind(1, match).bind(2, options.mark_open).bind(3, options.mark_close).bind(4, int64_t{options.limit});
  while (titles.step()) hits.push_back({titles.int64(0), titles.text(1), std::nullopt, titles.text(2)});
  const int64_t remaining = options.limit - static_cast<int64_t>(hits.size());
  if (remaining <= 0) return hits;
  auto messages = db_.prepare(
      "SELECT m.conversation_id, c.title, m.id, snippet(message_fts, 0, ?2, ?3, '...', 16) FROM message_fts "
      "JOIN messages m ON m.id = message_fts.rowid JOIN conversations c ON c.id = m.conversation_id "
      "WHERE message_fts MATCH ?1 AND c.deleted_at IS NULL ORDER BY message_fts.rank LIMIT ?4");
  messages.bind(1, match).bind(2, options.mark_open).bind(3, options.mark_close).bind(4, remaining);
  while (messages.step()) hits.push_back({messages.int64(0), messages.text(1), messages.int64(2), messages.text(3)});
  return hits;
}

std::string_view role_name(Role role) {
  switch (role) {
    case Role::System: return "system";
    case Role::User: return "user";
    case Role::Assistant: return "assistant";
    case Role::Tool: return "tool";
  }
  return "user";
}

std::optional<Role> parse_role(std::string_view name) {
  if (name == "system") return Role::System;
  if (name == "user") return Role::User;
  if (name == "assistant") return Role::Assistant;
  if (name == "tool") return Role::Tool;
  return std::nullopt;
}

}  // namespace hearth
