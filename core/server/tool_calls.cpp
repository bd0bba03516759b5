#include "core/server/tool_calls.h"

#include <algorithm>
#include <optional>
#include <string_view>

namespace hearth::server {

namespace {

using nlohmann::json;

constexpr std::string_view kHermesOpen = "<tool_call>";
constexpr std::string_view kHermesClose = "</tool_call>";
constexpr std::string_view kMistral = "[TOOL_CALLS]";
constexpr std::string_view kMistralArgs = "[ARGS]";
constexpr std::string_view kPythonTag = "<|python_tag|>";
constexpr std::string_view kMarkers[] = {kHermesOpen, kMistral, kPythonTag};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::optional<json> parse(std::string_view s) {
  json j = json::parse(s.begin(), s.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

// Arguments as JSON text: an object stays an object; a string holding JSON is kept as is.
std::optional<std::string> arguments_text(const json& args) {
  if (args.is_object()) return args.dump(-1, ' ', false, json::error_handler_t::replace);
  if (args.is_string()) {
    const std::string s = args.get<std::string>();
    auto j = parse(s);
    if (j && j->is_object()) return s;
  }
  return std::nullopt;
}

// {"name": "f", "arguments"|"parameters": {...}} (also OpenAI's {"function": {...}} wrapping).
std::optional<ParsedToolCall> call_from(const json& j) {
  if (!j.is_object()) return std::nullopt;
  if (auto f = j.find("function"); f != j.end() && f->is_object() && !j.contains("name")) return call_from(*f);
  auto name = j.find("name");
  if (name == j.end() || !name->is_string() || name->get<std::string>().empty()) return std::nullopt;
  ParsedToolCall call;
  call.name = name->get<std::string>();
  auto args = j.find("arguments");
  if (args == j.end()) args = j.find("parameters");
  if (args == j.end() || args->is_null()) {
    call.arguments = "{}";
  } else {
    auto text = arguments_text(*args);
    if (!text) return std::nullopt;
    call.arguments = *text;
  }
  return call;
}

// One call object, an array of them, or objects separated by ';' (Llama 3.x).
std::optional<std::vector<ParsedToolCall>> calls_from_text(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  std::vector<ParsedToolCall> calls;
  if (auto j = parse(text)) {
    if (j->is_array()) {
      if (j->empty()) return std::nullopt;
      for (const auto& item : *j) {
        auto c = call_from(item);
        if (!c) return std::nullopt;
        calls.push_back(std::move(*c));
      }
      return calls;
    }
    if (auto c = call_from(*j)) return std::vector<ParsedToolCall>{std::move(*c)};
    return std::nullopt;
  }
  size_t at = 0;
  while (at < text.size()) {
    size_t semi = text.find(';', at);
    // A ';' inside a string would split a call wrongly: extend until the piece parses.
    std::optional<json> j;
    while (true) {
      const size_t end = semi == std::string_view::npos ? text.size() : semi;
      j = parse(text.substr(at, end - at));
      if (j || semi == std::string_view::npos) break;
      semi = text.find(';', semi + 1);
    }
    if (!j) return std::nullopt;
    auto c = call_from(*j);
    if (!c) return std::nullopt;
    calls.push_back(std::move(*c));
    if (semi == std::string_view::npos) break;
    at = semi + 1;
  }
  if (calls.empty()) return std::nullopt;
  return calls;
}

std::optional<ParsedOutput> parse_hermes(const std::string& text) {
  size_t open = text.find(kHermesOpen);
  if (open == std::string::npos) return std::nullopt;
  ParsedOutput out;
  size_t at = 0;
  while (open != std::string::npos) {
    out.content += text.substr(at, open - at);
    const size_t body = open + kHermesOpen.size();
    size_t close = text.find(kHermesClose, body);
    const size_t body_end = close == std::string::npos ? text.size() : close;
    auto calls = calls_from_text(std::string_view(text).substr(body, body_end - body));
    if (!calls) return std::nullopt;
    for (auto& c : *calls) out.calls.push_back(std::move(c));
    at = close == std::string::npos ? text.size() : close + kHermesClose.size();
    open = text.find(kHermesOpen, at);
  }
  out.content += text.substr(at);
  out.content = std::string(trim(out.content));
  return out;
}

std::optional<ParsedOutput> parse_after_marker(const std::string& text, std::string_view marker) {
  const size_t at = text.find(marker);
  if (at == std::string::npos) return std::nullopt;
  std::string_view rest = std::string_view(text).substr(at + marker.size());
  ParsedOutput out;
  out.content = std::string(trim(std::string_view(text).substr(0, at)));
  if (auto calls = calls_from_text(rest)) {
    out.calls = std::move(*calls);
    return out;
  }
  // Mistral's newer form: [TOOL_CALLS]name[ARGS]{...}, repeated.
  if (marker != kMistral) return std::nullopt;
  while (!rest.empty()) {
    const size_t args = rest.find(kMistralArgs);
    if (args == std::string_view::npos) return std::nullopt;
    ParsedToolCall call;
    call.name = std::string(trim(rest.substr(0, args)));
    rest.remove_prefix(args + kMistralArgs.size());
    const size_t next = rest.find(kMistral);
    const std::string_view body = rest.substr(0, next);
    auto j = parse(trim(body));
    if (call.name.empty() || !j || !j->is_object()) return std::nullopt;
    call.arguments = j->dump(-1, ' ', false, json::error_handler_t::replace);
    out.calls.push_back(std::move(call));
    if (next == std::string_view::npos) break;
    rest.remove_prefix(next + kMistral.size());
  }
  return out.calls.empty() ? std::nullopt : std::optional<ParsedOutput>(std::move(out));
}

}  // namespace

ParsedOutput parse_tool_calls(const std::string& text) {
  if (auto out = parse_hermes(text)) return *out;
  if (auto out = parse_after_marker(text, kMistral)) return *out;
  if (auto out = parse_after_marker(text, kPythonTag)) return *out;
  const std::string_view t = trim(text);
  if (!t.empty() && (t.front() == '{' || t.front() == '[')) {
    if (auto calls = calls_from_text(t)) return {"", std::move(*calls)};
  }
  return {text, {}};
}

std::string ToolCallStreamFilter::push(const std::string& delta) {
  text_ += delta;
  if (holding_) return {};
  const std::string_view rest = std::string_view(text_).substr(released_);
  if (released_ == 0) {
    // A bare JSON call (Llama 3.x) starts the output: hold while only whitespace came, and all
    // of it once the first character is '{' or '['.
    const std::string_view t = trim(rest);
    if (t.empty()) return {};
    if (t.front() == '{' || t.front() == '[') {
      holding_ = true;
      return {};
    }
  }
  size_t release = rest.size();
  for (std::string_view m : kMarkers) {
    if (const size_t at = rest.find(m); at != std::string_view::npos && at < release) {
      release = at;
      holding_ = true;
    }
  }
  if (!holding_) {
    // Hold a tail that may be the start of a marker.
    for (std::string_view m : kMarkers)
      for (size_t n = std::min(m.size() - 1, rest.size()); n > 0; --n)
        if (rest.substr(rest.size() - n) == m.substr(0, n)) {
          release = std::min(release, rest.size() - n);
          break;
        }
  }
  std::string out(rest.substr(0, release));
  released_ += release;
  return out;
}

ParsedOutput ToolCallStreamFilter::finish() {
  const std::string rest = text_.substr(released_);
  released_ = text_.size();
  if (!holding_) return {rest, {}};
  ParsedOutput parsed = parse_tool_calls(rest);
  if (parsed.calls.empty()) return {rest, {}};
  return parsed;
}

}  // namespace hearth::server
