#pragma once
// Per-message generation stats as the chat shows them, and their form in the database
// (messages.timings_json): {"ttft_ms": 12.5, "tokens_per_second": 830.2, "device": "cpu",
// "finish_reason": "stop", "truncated_tokens": 0,
// "cached_tokens": 0, "restored_tokens": 0, "joules_per_token": 0.41}; the token count lives in completion_tokens.
#include <cstdint>
#include <string>

namespace hearth {

struct RequestEvent;

struct MessageStats {
  double ttft_ms = 0;
  double tokens_per_second = 0;
  int64_t prompt_tokens = 0;
  int64_t tokens = 0;               // generated
  int64_t truncated_tokens = 0;     // dropped from the prompt because the context was full
  int64_t cached_tokens = 0;        // prompt tokens reused from the in-memory prefix cache
  int64_t restored_tokens = 0;      // prompt tokens restored from the persistent cache (disk)
  double joules_per_token = 0;      // device energy per generated token; 0: not measured
  std::string device;
  std::string finish_reason;        // "stop", "length", "context", "cancelled", "error"
};

MessageStats stats_from_finish(const RequestEvent& finished, const std::string& device);
std::string stats_to_json(const MessageStats& stats);
// Reads what stats_to_json wrote; missing or malformed fields stay zero/empty.
MessageStats stats_from_json(const std::string& json, int64_t prompt_tokens, int64_t completion_tokens);

}  // namespace hearth
