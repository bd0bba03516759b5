#pragma once
// The schema of hearth.db as a list of migration steps (PRAGMA user_version = steps applied).
// Never edit a released step: append a new one, and add its test to
// tests/storage/test_storage_migrations.cpp (fill a database at every earlier version, migrate,
// check the data).
//   1: conversations, messages (tree by parent_id), settings
//   2: presets; FTS5 indexes over titles and message text, kept in sync by triggers
//   3: conversations.deleted_at (delete with undo) and active_leaf_id (the branch shown)
#include <span>

#include "storage/database.h"

namespace hearth {

std::span<const MigrationStep> conversation_schema_steps();
inline constexpr int kConversationSchemaVersion = 3;

// Migrates `db` to `target` (default: the latest version).
void migrate_conversation_schema(Database& db, int target = kConversationSchemaVersion);

}  // namespace hearth
