#include "storage/conversation_schema.h"

namespace hearth {
namespace {

// Times are milliseconds since the Unix epoch. JSON columns hold objects written by the app
// (sampling settings, timings); the store checks they parse before writing them.
constexpr MigrationStep kSteps[] = {
    {"conversations, messages, settings", R"sql(
CREATE TABLE conversations (
  id            INTEGER PRIMARY KEY,
  title         TEXT    NOT NULL DEFAULT '',
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  model         TEXT    NOT NULL DEFAULT '',
  system_prompt TEXT    NOT NULL DEFAULT '',
  sampling_json TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX conversations_by_update ON conversations(updated_at);
-- A conversation is a tree: an edit or a regeneration adds a sibling under the same parent.
CREATE TABLE messages (
  id                INTEGER PRIMARY KEY,
  conversation_id   INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  parent_id         INTEGER REFERENCES messages(id) ON DELETE CASCADE,
  role              TEXT    NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
  content           TEXT    NOT NULL,
  prompt_tokens     INTEGER NOT NULL DEFAULT 0,
  completion_tokens INTEGER NOT NULL DEFAULT 0,
  timings_json      TEXT    NOT NULL DEFAULT '{}',
  created_at        INTEGER NOT NULL
);
CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
CREATE INDEX messages_by_parent ON messages(parent_id);
CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)sql"},
    {"presets and full-text search", R"sql(
CREATE TABLE presets (
  name          TEXT PRIMARY KEY,
  system_prompt TEXT NOT NULL DEFAULT '',
  sampling_json TEXT NOT NULL DEFAULT '{}'
);
-- External-content FTS5 tables: the text lives once, in messages/conversations; the triggers
-- keep the index in step (cascaded deletes fire them too).
CREATE VIRTUAL TABLE message_fts USING fts5(content, content='messages', content_rowid='id');
CREATE TRIGGER message_fts_insert AFTER INSERT ON messages BEGIN
  INSERT INTO message_fts(rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER message_fts_delete AFTER DELETE ON messages BEGIN
  INSERT INTO message_fts(message_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER message_fts_update AFTER UPDATE OF content ON messages BEGIN
  INSERT INTO message_fts(message_fts, rowid, content) VALUES ('delete', old.id, old.content);
  INSERT INTO message_fts(rowid, content) VALUES (new.id, new.content);
END;
CREATE VIRTUAL TABLE title_fts USING fts5(title, content='conversations', content_rowid='id');
CREATE TRIGGER title_fts_insert AFTER INSERT ON conversations BEGIN
  INSERT INTO title_fts(rowid, title) VALUES (new.id, new.title);
END;
CREATE TRIGGER title_fts_delete AFTER DELETE ON conversations BEGIN
  INSERT INTO title_fts(title_fts, rowid, title) VALUES ('delete', old.id, old.title);
END;
CREATE TRIGGER title_fts_update AFTER UPDATE OF title ON conversations BEGIN
  INSERT INTO title_fts(title_fts, rowid, title) VALUES ('delete', old.id, old.title);
  INSERT INTO title_fts(rowid, title) VALUES (new.id, new.title);
END;
-- Index what version 1 already holds.
INSERT INTO message_fts(message_fts) VALUES ('rebuild');
INSERT INTO title_fts(title_fts) VALUES ('rebuild');
)sql"},
    {"delete with undo, active branch", R"sql(
ALTER TABLE conversations ADD COLUMN deleted_at INTEGER;
ALTER TABLE conversations ADD COLUMN active_leaf_id INTEGER REFERENCES messages(id) ON DELETE SET NULL;
-- Before version 3 the newest message was the one shown.
UPDATE conversations SET active_leaf_id =
  (SELECT max(id) FROM messages WHERE messages.conversation_id = conversations.id);
CREATE INDEX conversations_by_deleted ON conversations(deleted_at);
)sql"},
};

static_assert(std::size(kSteps) == kConversationSchemaVersion);

}  // namespace

std::span<const MigrationStep> conversation_schema_steps() { return kSteps; }

void migrate_conversation_schema(Database& db, int target) { db.migrate(conversation_schema_steps(), target); }

}  // namespace hearth
