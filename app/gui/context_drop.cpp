#include "app/gui/context_drop.h"

namespace hearth {

std::vector<int> dropped_message_indices(const std::vector<ChatMessage>& messages, const RequestUsage& usage) {
  std::vector<int> dropped;
  // Never the first (system) or the last message, whatever a usage record claims.
  for (int64_t i = 1; i <= usage.dropped_messages && i + 1 < static_cast<int64_t>(messages.size()); ++i) {
    dropped.push_back(static_cast<int>(i));
  }
  return dropped;
}

}  // namespace hearth
