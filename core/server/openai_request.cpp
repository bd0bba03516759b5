#include "core/server/openai_request.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>

#include "core/server/api_error.h"

namespace hearth::server {

namespace {

using nlohmann::json;

ApiError bad(const std::string& param, const std::string& message) { return ApiError(400, message, param); }

// A field that is absent or null reads as "not given" (OpenAI clients send null for defaults).
const json* field(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<double> number(const json& body, const char* name, double lo, double hi) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw bad(name, std::string("'") + name + "' must be a number");
  const double x = v->get<double>();
  if (!std::isfinite(x)) throw bad(name, std::string("'") + name + "' must be finite");
  return std::clamp(x, lo, hi);
}

std::optional<int64_t> integer(const json& body, const char* name, int64_t lo, int64_t hi) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (v->is_number_unsigned()) {  // may exceed INT64_MAX
    const uint64_t u = v->get<uint64_t>();
    return u > static_cast<uint64_t>(hi) ? hi : std::max<int64_t>(lo, static_cast<int64_t>(u));
  }
  if (v->is_number_integer()) return std::clamp<int64_t>(v->get<int64_t>(), lo, hi);
  if (v->is_number_float()) {
    const double x = v->get<double>();
    if (std::isfinite(x) && x == std::floor(x)) return static_cast<int64_t>(std::clamp<double>(x, static_cast<double>(lo), static_cast<double>(hi)));
  }
  throw bad(name, std::string("'") + name + "' must be an integer");
}

std::optional<bool> boolean(const json& body, const char* name) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw bad(name, std::string("'") + name + "' must be a boolean");
  return v->get<bool>();
}

std::string required_model(const json& body) {
  const json* v = field(body, "model");
  if (!v) throw bad("model", "'model' is required");
  if (!v->is_string()) throw bad("model", "'model' must be a string");
  return v->get<std::string>();
}

std::vector<std::string> stop_sequences(const json& body, const RequestLimits& limits) {
  const json* v = field(body, "stop");
  std::vector<std::string> out;
  if (!v) return out;
  auto add = [&](const json& s) {
    if (!s.is_string()) throw bad("stop", "'stop' must be a string or an array of strings");
    std::string text = s.get<std::string>();
    if (text.size() > limits.max_stop_bytes) throw bad("stop", "a stop sequence is longer than " + std::to_string(limits.max_stop_bytes) + " bytes");
    if (!text.empty()) out.push_back(std::move(text));
  };
  if (v->is_array()) {
    if (v->size() > static_cast<size_t>(limits.max_stop)) throw bad("stop", "at most " + std::to_string(limits.max_stop) + " stop sequences");
    for (const auto& s : *v) add(s);
  } else {
    add(*v);
  }
  return out;
}

// Fields both endpoints share: sampling, lengths, n, stream, stop.
void parse_common(const json& body, const RequestLimits& limits, ApiCall& call) {
  call.model = required_model(body);
  Request& r = call.request;
  // OpenAI's defaults: temperature 1, top_p 1, no top-k/min-p unless the extensions are given.
  SamplingParams& s = r.sampling;
  s.temperature = static_cast<float>(number(body, "temperature", 0.0, 2.0).value_or(1.0));
  s.top_p = static_cast<float>(number(body, "top_p", 0.0, 1.0).value_or(1.0));
  s.top_k = static_cast<int32_t>(integer(body, "top_k", 0, 1 << 20).value_or(0));
  s.min_p = static_cast<float>(number(body, "min_p", 0.0, 1.0).value_or(0.0));
  s.presence_penalty = static_cast<float>(number(body, "presence_penalty", -2.0, 2.0).value_or(0.0));
  s.frequency_penalty = static_cast<float>(number(body, "frequency_penalty", -2.0, 2.0).value_or(0.0));
  s.repeat_penalty = static_cast<float>(number(body, "repetition_penalty", 0.5, 2.0).value_or(1.0));
  s.penalty_last_n = -1;  // OpenAI's penalties look at everything generated so far
  if (const json* seed = field(body, "seed")) {
    if (seed->is_number_unsigned()) s.seed = seed->get<uint64_t>();
    else if (seed->is_number_integer()) s.seed = static_cast<uint64_t>(seed->get<int64_t>());
    else throw bad("seed", "'seed' must be an integer");
  } else {
    s.seed = std::random_device{}() | (static_cast<uint64_t>(std::random_device{}()) << 32);
  }

  std::optional<int64_t> max_tokens = integer(body, "max_completion_tokens", 1, limits.max_tokens_cap);
  if (!max_tokens) max_tokens = integer(body, "max_tokens", 1, limits.max_tokens_cap);
  r.max_tokens = max_tokens.value_or(limits.max_tokens_cap);
  r.stop_strings = stop_sequences(body, limits);
  r.ignore_eos = boolean(body, "ignore_eos").value_or(false);  // extension, as llama.cpp's server
  call.n = static_cast<int32_t>(integer(body, "n", 1, limits.max_choices).value_or(1));
  call.stream = boolean(body, "stream").value_or(false);
  if (const json* so = field(body, "stream_options")) {
    if (!so->is_object()) throw bad("stream_options", "'stream_options' must be an object");
    if (auto it = so->find("include_usage"); it != so->end() && !it->is_null()) {
      if (!it->is_boolean()) throw bad("stream_options.include_usage", "'stream_options.include_usage' must be a boolean");
      call.include_usage = it->get<bool>();
    }
  }
}

// Message content: a string, null (assistant turns with tool calls), or an array of text parts.
std::string message_content(const json& content, const std::string& where) {
  if (content.is_null()) return {};
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) throw bad(where, "'" + where + "' must be a string or an array of content parts");
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (!part.is_object()) throw bad(at, "'" + at + "' must be an object");
    auto type = part.find("type");
    if (type == part.end() || !type->is_string()) throw bad(at + ".type", "'" + at + ".type' must be a string");
    if (*type != "text") throw bad(at + ".type", "content parts of type '" + type->get<std::string>() + "' are not supported (text only)");
    auto t = part.find("text");
    if (t == part.end() || !t->is_string()) throw bad(at + ".text", "'" + at + ".text' must be a string");
    text += t->get<std::string>();
  }
  return text;
}


// JSON -> the template language's values (tools, tool-call arguments). Depth-limited: a request
// body may nest deeply, the conversion recurses.
chat_template::Value to_template_value(const json& j, const std::string& where, int depth = 0) {
  using chat_template::Value;
  if (depth > 64) throw bad(where, "'" + where + "' is nested too deeply");
  switch (j.type()) {
    case json::value_t::null: return Value::none();
    case json::value_t::boolean: return Value(j.get<bool>());
    case json::value_t::number_integer: return Value(j.get<int64_t>());
    case json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      return u > static_cast<uint64_t>(INT64_MAX) ? Value(static_cast<double>(u)) : Value(static_cast<int64_t>(u));
    }
    case json::value_t::number_float: return Value(j.get<double>());
    case json::value_t::string: return Value(j.get<std::string>());
    case json::value_t::array: {
      chat_template::ValueList list;
      for (const auto& item : j) list.push_back(to_template_value(item, where, depth + 1));
      return Value(std::move(list));
    }
    case json::value_t::object: {
      chat_template::ValueDict dict;
      for (const auto& [k, v] : j.items()) dict.emplace_back(k, to_template_value(v, where, depth + 1));
      return Value(std::move(dict));
    }
    default: throw bad(where, "'" + where + "' has an unsupported value");
  }
}

// An assistant message's tool_calls ([{"id","type":"function","function":{"name","arguments"}}])
// for the template; arguments that are JSON text become objects, as templates expect
// (`tool_call.arguments | tojson`).
chat_template::Value template_tool_calls(const json& calls, const std::string& where) {
  if (!calls.is_array()) throw bad(where, "'" + where + "' must be an array");
  chat_template::ValueList list;
  for (size_t i = 0; i < calls.size(); ++i) {
    const json& c = calls[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (!c.is_object()) throw bad(at, "'" + at + "' must be an object");
    auto fn = c.find("function");
    if (fn == c.end() || !fn->is_object()) throw bad(at + ".function", "'" + at + ".function' must be an object");
    auto name = fn->find("name");
    if (name == fn->end() || !name->is_string()) throw bad(at + ".function.name", "'" + at + ".function.name' must be a string");
    json args = json::object();
    if (auto a = fn->find("arguments"); a != fn->end() && !a->is_null()) {
      if (a->is_string()) {
        args = json::parse(a->get<std::string>(), nullptr, false);
        if (args.is_discarded()) args = *a;  // not JSON: the template gets the string
      } else if (a->is_object()) {
        args = *a;
      } else {
        throw bad(at + ".function.arguments", "'" + at + ".function.arguments' must be a string");
      }
    }
    json normalized = {{"type", "function"}, {"function", {{"name", *name}, {"arguments", args}}}};
    if (auto id = c.find("id"); id != c.end() && id->is_string()) normalized["id"] = *id;
    list.push_back(to_template_value(normalized, at));
  }
  return chat_template::Value(std::move(list));
}

bool valid_tool_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}

// tools: [{"type": "function", "function": {"name", "description"?, "parameters"?}}], and
// tool_choice. The definitions go to the template as its "tools" variable.
void parse_tools(const json& body, ApiCall& call) {
  const json* tools = field(body, "tools");
  const json* choice = field(body, "tool_choice");
  if (!tools || (tools->is_array() && tools->empty())) {
    if (choice && !(choice->is_string() && (*choice == "none" || *choice == "auto")))
      throw bad("tool_choice", "'tool_choice' needs 'tools'");
    return;
  }
  if (!tools->is_array()) throw bad("tools", "'tools' must be an array");
  if (tools->size() > 128) throw bad("tools", "at most 128 tools");
  for (size_t i = 0; i < tools->size(); ++i) {
    const json& t = (*tools)[i];
    const std::string at = "tools[" + std::to_string(i) + "]";
    if (!t.is_object()) throw bad(at, "'" + at + "' must be an object");
    auto type = t.find("type");
    if (type == t.end() || *type != "function") throw bad(at + ".type", "'" + at + ".type' must be 'function'");
    auto fn = t.find("function");
    if (fn == t.end() || !fn->is_object()) throw bad(at + ".function", "'" + at + ".function' must be an object");
    auto name = fn->find("name");
    if (name == fn->end() || !name->is_string() || !valid_tool_name(name->get<std::string>()))
      throw bad(at + ".function.name", "'" + at + ".function.name' must be 1 to 64 letters, digits, '_', '-' or '.'");
    if (auto p = fn->find("parameters"); p != fn->end() && !p->is_null() && !p->is_object())
      throw bad(at + ".function.parameters", "'" + at + ".function.parameters' must be an object");
    call.tool_names.push_back(name->get<std::string>());
  }
  call.tool_choice = ToolChoice::kAuto;
  std::vector<std::string> forced;
  if (choice) {
    if (choice->is_string()) {
      if (*choice == "none") call.tool_choice = ToolChoice::kNone;
      else if (*choice == "required") call.tool_choice = ToolChoice::kRequired;
      else if (*choice != "auto") throw bad("tool_choice", "'tool_choice' must be 'none', 'auto', 'required' or a function");
    } else if (choice->is_object()) {
      const json* fn = field(*choice, "function");
      const json* name = fn && fn->is_object() ? field(*fn, "name") : nullptr;
      if (!name || !name->is_string()) throw bad("tool_choice", "'tool_choice.function.name' must be a string");
      const std::string n = name->get<std::string>();
      if (std::find(call.tool_names.begin(), call.tool_names.end(), n) == call.tool_names.end())
        throw bad("tool_choice", "'tool_choice' names '" + n + "', which is not in 'tools'");
      call.tool_choice = ToolChoice::kNamed;
      forced = {n};
    } else {
      throw bad("tool_choice", "'tool_choice' must be a string or an object");
    }
  }
  if (call.tool_choice == ToolChoice::kNone) return;  // the tools are not offered at all
  if (call.tool_choice == ToolChoice::kRequired) forced = call.tool_names;
  if (!forced.empty()) call.grammar = constrain::tool_call_grammar(forced);
  call.request.template_extra.emplace_back("tools", to_template_value(*tools, "tools"));
}

}  // namespace

json parse_json_body(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw ApiError(400, "the request body is not valid JSON (UTF-8)");
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object");
  return j;
}

ApiCall parse_chat_request(const json& body, const RequestLimits& limits) {
  ApiCall call;
  call.kind = ApiCall::Kind::kChat;
  parse_common(body, limits, call);
  const json* messages = field(body, "messages");
  if (!messages) throw bad("messages", "'messages' is required");
  if (!messages->is_array() || messages->empty()) throw bad("messages", "'messages' must be a non-empty array");
  // The template sees the messages with their tool fields (tool_calls, tool_call_id, name) when
  // any message has them or tools are offered; otherwise the plain role/content list.
  chat_template::ValueList template_messages;
  bool template_needs_fields = false;
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw bad(at, "'" + at + "' must be an object");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) throw bad(at + ".role", "'" + at + ".role' must be a string");
    std::string r = role->get<std::string>();
    if (r == "developer") r = "system";  // OpenAI's newer name for the system role
    if (r != "system" && r != "user" && r != "assistant" && r != "tool")
      throw bad(at + ".role", "'" + at + ".role' must be system, developer, user, assistant or tool");
    auto content = m.find("content");
    std::string text = content == m.end() ? std::string() : message_content(*content, at + ".content");
    chat_template::ValueDict dict;
    dict.reserve(5);
    dict.emplace_back("role", chat_template::Value(r));
    const bool null_content = content == m.end() || content->is_null();
    dict.emplace_back("content", null_content ? chat_template::Value::none() : chat_template::Value(text));
    if (auto calls = m.find("tool_calls"); calls != m.end() && !calls->is_null()) {
      if (r != "assistant") throw bad(at + ".tool_calls", "only assistant messages have 'tool_calls'");
      dict.emplace_back("tool_calls", template_tool_calls(*calls, at + ".tool_calls"));
      template_needs_fields = true;
    }
    for (const char* key : {"tool_call_id", "name"}) {
      if (auto v = m.find(key); v != m.end() && !v->is_null()) {
        if (!v->is_string()) throw bad(at + "." + key, "'" + at + "." + key + "' must be a string");
        dict.emplace_back(key, chat_template::Value(v->get<std::string>()));
        template_needs_fields = true;
      }
    }
    template_messages.emplace_back(std::move(dict));
    call.request.messages.push_back({std::move(r), std::move(text)});
  }

  parse_tools(body, call);
  if (call.tools_active() || template_needs_fields)
    call.request.template_extra.emplace_back("messages", chat_template::Value(std::move(template_messages)));
  if (const json* rf = field(body, "response_format")) {
    auto type = rf->is_object() ? rf->find("type") : rf->end();
    if (!rf->is_object() || type == rf->end() || !type->is_string())
      throw bad("response_format", "'response_format' must be an object with a string 'type'");
    if (*type == "json_object") {
      if (!call.grammar) {  // a forced tool call keeps its own grammar
        constrain::JsonGrammar g;
        g.value.object_at_top = true;
        call.grammar = g;
      }
    } else if (*type == "json_schema") {
      throw bad("response_format", "response_format 'json_schema' is not supported yet; use {\"type\": \"json_object\"}");
    } else if (*type != "text") {
      throw bad("response_format.type", "response_format.type must be 'text', 'json_object' or 'json_schema'");
    }
  }
  call.logprobs = boolean(body, "logprobs").value_or(false);
  if (auto top = integer(body, "top_logprobs", 0, limits.max_top_logprobs)) {
    if (!call.logprobs) throw bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    call.top_logprobs = static_cast<int32_t>(*top);
  }
  if (call.logprobs) call.request.top_logprobs = call.top_logprobs;
  return call;
}

ApiCall parse_completion_request(const json& body, const RequestLimits& limits) {
  ApiCall call;
  call.kind = ApiCall::Kind::kCompletion;
  parse_common(body, limits, call);
  const json* prompt = field(body, "prompt");
  if (!prompt) throw bad("prompt", "'prompt' is required");
  if (prompt->is_string()) {
    call.request.prompt_text = prompt->get<std::string>();
  } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
    call.request.prompt_text = (*prompt)[0].get<std::string>();
  } else if (prompt->is_array() && !prompt->empty() && std::all_of(prompt->begin(), prompt->end(), [](const json& t) { return t.is_number_integer(); })) {
    for (const auto& t : *prompt) {
      const int64_t id = t.get<int64_t>();
      if (id < 0 || id > INT32_MAX) throw bad("prompt", "prompt token ids must be non-negative 32-bit integers");
      call.request.prompt_tokens.push_back(static_cast<TokenId>(id));
    }
  } else {
    throw bad("prompt", "'prompt' must be a string, an array of one string, or an array of token ids");
  }
  if (call.request.prompt_text.empty() && call.request.prompt_tokens.empty()) throw bad("prompt", "'prompt' is empty");
  if (boolean(body, "echo").value_or(false)) throw bad("echo", "'echo' is not supported");
  if (const json* suffix = field(body, "suffix"); suffix && !(suffix->is_string() && suffix->get<std::string>().empty()))
    throw bad("suffix", "'suffix' is not supported");
  if (auto lp = integer(body, "logprobs", 0, 5)) {  // legacy: the number of alternatives
    call.logprobs = true;
    call.top_logprobs = static_cast<int32_t>(*lp);
    call.request.top_logprobs = call.top_logprobs;
  }
  return call;
}

}  // namespace hearth::server
