#pragma once
// Plain records of hearth.db: what the GUI, the server and the CLI pass around. Times are
// milliseconds since the Unix epoch; *_json fields hold JSON objects (sampling settings as the
// app writes them, timings of a generation), stored as text and checked to parse.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hearth {

enum class Role { System, User, Assistant, Tool };

std::string_view role_name(Role role);                      // "system", "user", ...
std::optional<Role> parse_role(std::string_view name);      // nullopt for anything else

struct ConversationSettings {
  std::string model;                  // model name or path, as the app shows it
  std::string system_prompt;
  std::string sampling_json = "{}";   // {"temperature": 0.7, "top_p": 0.9, ...}
};

struct Conversation {
  int64_t id = 0;
  std::string title;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;          // last change: a message, a rename, new settings
  ConversationSettings settings;
  std::optional<int64_t> deleted_at_ms;   // set while deleted (restorable)
  std::optional<int64_t> active_leaf_id;  // last message of the branch shown
};

struct NewMessage {
  std::optional<int64_t> parent_id;   // nullopt: a first message; else a message of the same conversation
  Role role = Role::User;
  std::string content;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::string timings_json = "{}";    // {"prefill_ms": .., "decode_tokens_per_s": ..}
};

struct Message {
  int64_t id = 0;
  int64_t conversation_id = 0;
  std::optional<int64_t> parent_id;
  Role role = Role::User;
  std::string content;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::string timings_json = "{}";
  int64_t created_at_ms = 0;
};

struct Preset {
  std::string name;
  std::string system_prompt;
  std::string sampling_json = "{}";
};

struct SearchHit {
  int64_t conversation_id = 0;
  std::string conversation_title;
  std::optional<int64_t> message_id;  // nullopt: the title matched
  std::string snippet;                // matched text with marks around the matching terms
};

struct SearchOptions {
  int limit = 50;
  std::string mark_open = "[";
  std::string mark_close = "]";
};

}  // namespace hearth
