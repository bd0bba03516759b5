#pragma once
// Request -> prompt tokens: renders chat messages with the model's template (trusted text:
// special tokens parsed), tokenizes plain text (untrusted: special-token texts stay text), and
// applies the context overflow policy.
//
// truncate_middle keeps the first message (the system prompt) and the latest turns, dropping
// whole turns after the first, oldest first; if that is not enough (or the prompt is not a chat)
// it cuts tokens out of the middle, keeping the head and the tail.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/engine.h"
#include "core/model/loaded_model.h"

namespace hearth {

// Renders messages with the model's chat template (or the built-in fallback). Built once per
// loaded model; render() is const and may run on any thread.
class PromptRenderer {
 public:
  explicit PromptRenderer(const LoadedModel& model);
  ~PromptRenderer();
  // Prompt tokens of a chat (BOS as the tokenizer wants). Message contents stay untrusted text:
  // special-token texts become special tokens only where the template wrote them.
  std::vector<TokenId> tokenize(const std::vector<ChatMessage>& messages, const Request& request) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct BuiltPrompt {
  std::vector<TokenId> tokens;
  int64_t truncated_tokens = 0;  // dropped by truncate_middle
  int64_t dropped_messages = 0;  // whole messages left out by truncate_middle: messages[1 .. this]
};

// `limit`: most positions a sequence may hold. The prompt must leave room for at least one
// generated token; truncation aims to leave min(max_tokens, limit / 2) of room. Throws
// hearth::Error for an empty prompt, or under ContextOverflow::kError one that does not fit
// (the message gives both numbers).
// `limit_what` names what sets the limit in error messages ("the context of 4096 tokens").
BuiltPrompt build_prompt(const LoadedModel& model, const PromptRenderer& renderer, const Request& request,
                         int64_t limit, const std::string& limit_what);

}  // namespace hearth
