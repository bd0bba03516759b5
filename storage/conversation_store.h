#pragma once
// Conversations and their messages in hearth.db. Messages form a tree per conversation: an edit
// or a regeneration adds a sibling (same parent), and the conversation remembers the leaf of the
// branch shown (active_leaf_id). Deleting is soft (restorable) so the GUI can offer "undo";
// purge_deleted() removes for good what was deleted long enough ago.
//
// Synchronous and single-threaded like its Database (see database.h): call it from a worker
// thread. A method that returns has committed: add_message() returning its id means the message
// is on disk (synchronous=FULL), the "acknowledged" point the GUI may rely on.
// Errors: hearth::Error for bad arguments (unknown ids, a parent in another conversation,
// malformed JSON fields); StorageError for database failures (disk full: disk_full()).
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "storage/conversation_types.h"
#include "storage/database.h"

namespace hearth {

class ConversationStore {
 public:
  // Migrates `db` to the latest conversation schema. `db` must outlive the store.
  explicit ConversationStore(Database& db);

  // ---- Conversations ----
  int64_t create(std::string_view title, const ConversationSettings& settings = {});
  std::optional<Conversation> get(int64_t id);  // deleted ones too (check deleted_at_ms)
  // Not deleted, most recently updated first; limit < 0: all.
  std::vector<Conversation> list(int limit = -1);
  std::vector<Conversation> list_deleted();     // most recently deleted first
  void rename(int64_t id, std::string_view title);
  void update_settings(int64_t id, const ConversationSettings& settings);
  void soft_delete(int64_t id);                 // hidden from list() and search()
  void restore(int64_t id);                     // undo of soft_delete
  // Removes for good the conversations deleted before `deleted_before_ms`; returns how many.
  int purge_deleted(int64_t deleted_before_ms);
  void erase(int64_t id);                       // removes for good, now

  // ---- Messages ----
  // Appends a message (committed when this returns) and makes it the active leaf.
  int64_t add_message(int64_t conversation_id, const NewMessage& message);
  std::optional<Message> message(int64_t id);
  // Children of `parent_id` (nullopt: the roots), oldest first: the branches at that point.
  std::vector<Message> children(int64_t conversation_id, std::optional<int64_t> parent_id);
  std::vector<Message> all_messages(int64_t conversation_id);  // every branch, by id
  // Root .. active leaf (the newest message when no leaf was chosen); empty for no messages.
  std::vector<Message> active_path(int64_t conversation_id);
  // Shows the branch through `message_id`: the active leaf becomes the newest descendant along
  // the newest children. Returns that leaf.
  int64_t select_branch(int64_t message_id);

  // ---- Search ----
  // Full-text search over titles and message text of conversations not deleted. The query is
  // user text: words are matched as words (all of them, the last one as a prefix), never as
  // FTS5 syntax. Title hits first, then messages, each by relevance.
  std::vector<SearchHit> search(std::string_view query, const SearchOptions& options = {});

  Database& database() { return db_; }

 private:
  Conversation require(int64_t id);
  void touch(int64_t id, int64_t now_ms);

  Database& db_;
};

// Milliseconds since the Unix epoch, now.
int64_t now_ms();

}  // namespace hearth
