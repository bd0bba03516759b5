#pragma once
// Building OpenAI response bodies and stream chunks from engine events (pure functions).
//   chat:        {"id","object":"chat.completion","created","model","choices":[{"index","message",
//                 "logprobs","finish_reason"}],"usage"}
//   chat chunk:  {"object":"chat.completion.chunk", "choices":[{"index","delta","logprobs","finish_reason"}]}
//   completion:  {"object":"text_completion", "choices":[{"index","text","logprobs","finish_reason"}]}
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "core/engine/engine.h"

namespace hearth::server {

using TokenText = std::function<std::string(TokenId)>;  // may be empty: alternatives get ""

// The engine's "stop" / "length" / "context" as OpenAI's "stop" / "length".
std::string openai_finish_reason(const std::string& engine_reason);

// Chat logprobs: {"content": [{"token","logprob","bytes","top_logprobs":[...]}]} entries.
nlohmann::json chat_logprob_entries(const std::vector<TokenLogprob>& logprobs, const TokenText& token_text);

// Legacy completion logprobs {"tokens","token_logprobs","top_logprobs","text_offset"}; text_offset
// counts from `offset` (bytes of text already produced).
nlohmann::json completion_logprobs(const std::vector<TokenLogprob>& logprobs, const TokenText& token_text, size_t offset);

// {"prompt_tokens","completion_tokens","total_tokens","prompt_tokens_details":{"cached_tokens"}}
nlohmann::json usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens);

// One SSE event: "data: <json>\n\n" (invalid UTF-8 from a model is replaced, never a throw).
std::string sse_data(const nlohmann::json& j);
inline constexpr const char* kSseDone = "data: [DONE]\n\n";

// JSON text for a response body, with the same replacement rule.
std::string dump_json(const nlohmann::json& j);

}  // namespace hearth::server
