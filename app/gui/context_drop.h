#pragma once
// Which messages of a chat prompt the engine left out when the context was full
// (ContextOverflow::kTruncateMiddle, core/engine/prompt_builder.h): it keeps the first message
// (the system prompt) and the latest turns, dropping whole turns after the first, oldest first,
// and reports how many messages that was (usage.dropped_messages). Those are always
// messages[1 .. dropped_messages]. When even that was not enough it also cuts tokens out of the
// middle of what remained (usage.truncated_tokens counts both); no further whole message is lost.
#include <vector>

#include "core/engine/engine.h"

namespace hearth {

// Indices into `messages` (as submitted) that were left out, ascending.
std::vector<int> dropped_message_indices(const std::vector<ChatMessage>& messages, const RequestUsage& usage);

}  // namespace hearth
