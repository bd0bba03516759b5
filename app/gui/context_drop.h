#pragma once
// Which messages of a chat prompt the engine left out when the context was full
// (ContextOverflow::kTruncateMiddle, core/engine/prompt_builder.h): it keeps the first message
// (the system prompt) and the latest turns, dropping whole turns after the first, oldest first:
// messages[1], then the replies that follow it until the next user message, and so on.
//
// The engine reports only how many prompt tokens it dropped (usage.truncated_tokens). When it
// also reports how many messages (usage.dropped_messages, once the engine has that field) the
// answer is exact; otherwise the turns are replayed with each message's share of the original
// prompt estimated from its length, which is close for a real chat and never drops the first or
// the last message.
#include <cstdint>
#include <vector>

#include "core/engine/engine.h"

namespace hearth {

// Indices into `messages` (as submitted) that were left out, ascending.
std::vector<int> dropped_message_indices(const std::vector<ChatMessage>& messages, const RequestUsage& usage);

// The estimate alone: `messages` rendered to `original_tokens`, cut down to `kept_tokens`.
std::vector<int> estimate_dropped(const std::vector<ChatMessage>& messages, int64_t original_tokens, int64_t kept_tokens);

}  // namespace hearth
