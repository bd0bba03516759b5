#pragma once
// Export of a conversation to Markdown (the branch shown, for reading) and to JSON (every
// branch, for backup and moving between machines), and import of that JSON.
//
// JSON format ("hearth.conversation", version 1):
//   {"format": "hearth.conversation", "version": 1,
//    "title": str, "model": str, "system_prompt": str, "sampling": {..},
//    "created_at_ms": int, "updated_at_ms": int, "active_leaf": id | null,
//    "messages": [{"id": int, "parent": id | null, "role": "system"|"user"|"assistant"|"tool",
//                  "content": str, "prompt_tokens": int, "completion_tokens": int,
//                  "timings": {..}, "created_at_ms": int}, ...]}
// Message ids are local to the file; a parent must appear before its children.
#include <cstdint>
#include <string>
#include <string_view>

#include "storage/conversation_store.h"

namespace hearth {

inline constexpr std::string_view kConversationJsonFormat = "hearth.conversation";
inline constexpr int kConversationJsonVersion = 1;
inline constexpr size_t kMaxImportBytes = size_t{512} << 20;  // a larger file is refused

// Throws hearth::Error for an unknown conversation.
std::string export_markdown(ConversationStore& store, int64_t conversation_id);
std::string export_json(ConversationStore& store, int64_t conversation_id);

// Imports a conversation exported by export_json() as a new conversation (new ids); returns its
// id. The text is untrusted: anything malformed throws hearth::FormatError naming the field
// ("messages[3].parent: 17 is not an earlier message"), and nothing is written (one
// transaction), so what was saved before is untouched.
int64_t import_json(ConversationStore& store, std::string_view json_text);

}  // namespace hearth
