#pragma once
// Tool calls in generated text, in the formats models are trained to write:
//   Hermes / Qwen:  text <tool_call>{"name": "f", "arguments": {...}}</tool_call> ...
//   Mistral:        [TOOL_CALLS][{"name": "f", "arguments": {...}}, ...]
//   Llama 3.x:      <|python_tag|>{"name": "f", "parameters": {...}}  (or the bare JSON object,
//                   several separated by ';'), and a bare JSON array of such objects.
// parse_tool_calls() takes a finished text apart; ToolCallStreamFilter lets a stream show content
// as it comes while holding back anything that may turn out to be a tool call.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace hearth::server {

struct ParsedToolCall {
  std::string name;
  std::string arguments;  // a JSON object as text (OpenAI sends arguments as a string)
};

struct ParsedOutput {
  std::string content;               // the text outside the tool calls
  std::vector<ParsedToolCall> calls; // empty: no tool call (content is the whole text)
};

// Never throws: text that is not a well-formed call stays content.
ParsedOutput parse_tool_calls(const std::string& text);

class ToolCallStreamFilter {
 public:
  // The part of the text so far that is surely content, not yet returned.
  std::string push(const std::string& delta);
  // At the end: the held-back text parsed (its content part is what push() did not return).
  ParsedOutput finish();

 private:
  std::string text_;      // everything pushed
  size_t released_ = 0;   // bytes of text_ returned as content
  bool holding_ = false;  // a call may have started at released_: hold the rest
};

}  // namespace hearth::server
