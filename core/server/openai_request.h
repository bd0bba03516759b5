#pragma once
// Parsing and validating the JSON bodies of POST /v1/chat/completions and /v1/completions into
// engine Requests. Every problem throws ApiError 400 naming the field ("messages[1].role");
// numeric parameters are clamped into sane ranges (RequestLimits); unknown fields are ignored,
// as OpenAI's own clients send fields (user, store, ...) a local server has no use for.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "core/constrain/json_constraint.h"
#include "core/engine/engine.h"

namespace hearth::server {

struct RequestLimits {
  int64_t max_tokens_cap = 4096;  // max_tokens is clamped to [1, this]; also the default
  int32_t max_choices = 8;        // n is clamped to [1, this]
  int32_t max_stop = 8;           // stop sequences at most
  size_t max_stop_bytes = 256;    // per stop sequence
  int32_t max_top_logprobs = 20;
};

// tool_choice: "none" ignores the tools; "auto" lets the model choose; "required" and a named
// function constrain the output to a call (constrain::tool_call_grammar).
enum class ToolChoice { kNone, kAuto, kRequired, kNamed };

struct ApiCall {
  enum class Kind { kChat, kCompletion } kind = Kind::kChat;
  std::string model;
  Request request;           // submitted n times; choice i > 0 gets seed + i
  int32_t n = 1;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;       // report the chosen tokens' logprobs
  int32_t top_logprobs = 0;    // alternatives per token when logprobs
  // response_format json_object or a forced tool call: the grammar the output must follow (the
  // server turns it into request.constraint).
  std::optional<constrain::JsonGrammar> grammar;
  std::vector<std::string> tool_names;  // tools offered (rendered as the template's "tools")
  ToolChoice tool_choice = ToolChoice::kNone;
  bool tools_active() const { return !tool_names.empty() && tool_choice != ToolChoice::kNone; }
};

// The body as a JSON object; malformed JSON (including invalid UTF-8) or a non-object is a 400.
nlohmann::json parse_json_body(const std::string& body);

ApiCall parse_chat_request(const nlohmann::json& body, const RequestLimits& limits);
ApiCall parse_completion_request(const nlohmann::json& body, const RequestLimits& limits);

}  // namespace hearth::server
