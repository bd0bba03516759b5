#include "app/gui/context_drop.h"

#include <numeric>

namespace hearth {
namespace {

// The engine's turn dropping, over message indices: drops kept[1], then the non-user messages
// after it, while `too_long(kept)` and more than two messages remain.
template <class TooLong>
std::vector<int> replay_drops(const std::vector<ChatMessage>& messages, TooLong too_long) {
  std::vector<int> kept(messages.size());
  std::iota(kept.begin(), kept.end(), 0);
  std::vector<int> dropped;
  while (kept.size() > 2 && too_long(kept)) {
    dropped.push_back(kept[1]);
    kept.erase(kept.begin() + 1);
    while (kept.size() > 2 && messages[static_cast<size_t>(kept[1])].role != "user") {
      dropped.push_back(kept[1]);
      kept.erase(kept.begin() + 1);
    }
  }
  return dropped;  // ascending: always the oldest remaining after the first
}

template <class Usage>
int64_t reported_dropped_messages(const Usage& usage) {
  if constexpr (requires { usage.dropped_messages; }) {
    return static_cast<int64_t>(usage.dropped_messages);
  } else {
    return -1;  // not reported by this engine
  }
}

}  // namespace

std::vector<int> estimate_dropped(const std::vector<ChatMessage>& messages, int64_t original_tokens, int64_t kept_tokens) {
  if (messages.size() <= 2 || original_tokens <= kept_tokens || original_tokens <= 0) return {};
  // A message's weight: its characters plus a few for the template's role markers.
  constexpr double kOverheadChars = 8;
  std::vector<double> weight;
  double total = 0;
  for (const ChatMessage& m : messages) {
    weight.push_back(static_cast<double>(m.content.size()) + kOverheadChars);
    total += weight.back();
  }
  const double tokens_per_weight = static_cast<double>(original_tokens) / total;
  return replay_drops(messages, [&](const std::vector<int>& kept) {
    double w = 0;
    for (int i : kept) w += weight[static_cast<size_t>(i)];
    return w * tokens_per_weight > static_cast<double>(kept_tokens) + 0.5;
  });
}

std::vector<int> dropped_message_indices(const std::vector<ChatMessage>& messages, const RequestUsage& usage) {
  if (usage.truncated_tokens <= 0) return {};
  if (const int64_t count = reported_dropped_messages(usage); count >= 0) {
    // The dropped messages are always the ones right after the first.
    std::vector<int> dropped;
    for (int64_t i = 1; i <= count && i + 1 < static_cast<int64_t>(messages.size()); ++i) dropped.push_back(static_cast<int>(i));
    return dropped;
  }
  return estimate_dropped(messages, usage.prompt_tokens + usage.truncated_tokens, usage.prompt_tokens);
}

}  // namespace hearth
