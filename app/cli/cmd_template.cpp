// hearth-cli template: renders a conversation with a model's chat template and prints the prompt
// text (or, with --tokens, its token ids as a JSON array). Only the GGUF metadata is read.
//   hearth-cli template -m MODEL --messages FILE.json [--add-generation-prompt] [--tools FILE.json]
// FILE.json: an array of messages ({"role", "content", and any fields the template reads, such as
// tool_calls}), or an object with a "messages" array. When the model has no template or it fails,
// the built-in template renders and stderr says why.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>
#include <string>

#include "app/cli/commands.h"
#include "core/common/error.h"
#include "core/gguf/gguf_file.h"
#include "core/tokenizer/chat_template/chat_renderer.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/tokenizer_import.h"

namespace hearth::cli {

namespace {

using chat_template::Value;
using chat_template::ValueDict;
using chat_template::ValueList;

struct TemplateOptions {
  std::string model_path;
  std::string messages_path;
  std::string tools_path;
  std::string template_name;
  std::string dialect = "hf";
  bool add_generation_prompt = false;
  bool tokens = false;
  std::vector<std::string> variables;  // NAME=JSON
};

// JSON (key order kept: templates print dicts in order) -> template value.
Value to_value(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::none();
    case nlohmann::ordered_json::value_t::boolean: return Value(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned:
      if (j.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return Value(j.get<double>());
      return Value(static_cast<int64_t>(j.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: return Value(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      ValueList list;
      for (const auto& e : j) list.push_back(to_value(e));
      return Value(std::move(list));
    }
    case nlohmann::ordered_json::value_t::object: {
      ValueDict dict;
      for (const auto& [k, v] : j.items()) dict.emplace_back(k, to_value(v));
      return Value(std::move(dict));
    }
    default: throw Error("unsupported JSON value");
  }
}

nlohmann::ordered_json read_json(const std::string& path, const char* what) {
  const std::string text = read_limited_file(path, uint64_t{64} << 20);
  try {
    // Depth is bounded by nlohmann's recursion only; messages files are small and local.
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string(what) + " " + path + " is not valid JSON: " + e.what());
  }
}

int run_template(const TemplateOptions& o) {
  const gguf::GgufFile file = gguf::GgufFile::open(o.model_path);
  const auto tokenizer = Tokenizer::from_gguf(file);
  const ChatRenderer renderer(file, *tokenizer, o.template_name);

  nlohmann::ordered_json messages = read_json(o.messages_path, "--messages");
  if (messages.is_object() && messages.contains("messages")) messages = messages["messages"];
  if (!messages.is_array()) throw Error("--messages " + o.messages_path + ": expected a JSON array of messages");
  for (const auto& m : messages)
    if (!m.is_object() || !m.contains("role")) throw Error("--messages: every message needs a \"role\"");

  TemplateInputs inputs;
  inputs.add_generation_prompt = o.add_generation_prompt;
  inputs.extra.emplace_back("messages", to_value(messages));
  if (!o.tools_path.empty()) {
    const nlohmann::ordered_json tools = read_json(o.tools_path, "--tools");
    if (!tools.is_array()) throw Error("--tools " + o.tools_path + ": expected a JSON array of tool definitions");
    inputs.extra.emplace_back("tools", to_value(tools));
  }
  for (const std::string& var : o.variables) {
    const size_t eq = var.find('=');
    if (eq == std::string::npos || eq == 0) throw Error("--var expects NAME=JSON, got \"" + var + "\"");
    nlohmann::ordered_json value;
    try {
      value = nlohmann::ordered_json::parse(var.substr(eq + 1));
    } catch (const nlohmann::json::exception&) {
      value = var.substr(eq + 1);  // not JSON: a plain string
    }
    inputs.extra.emplace_back(var.substr(0, eq), to_value(value));
  }
  TemplateLimits limits;
  limits.dialect = o.dialect == "python" ? TemplateDialect::kPython : TemplateDialect::kHuggingFaceJs;

  const RenderedPrompt prompt = renderer.render(inputs, limits);
  if (prompt.used_fallback) std::fprintf(stderr, "hearth-cli: note: %s\n", prompt.note.c_str());
  if (o.tokens) {
    const std::vector<TokenId> ids = renderer.encode(prompt, /*add_bos=*/true);
    std::fputs(nlohmann::json(ids).dump().c_str(), stdout);
    std::fputc('\n', stdout);
  } else {
    std::fwrite(prompt.text.data(), 1, prompt.text.size(), stdout);
  }
  return 0;
}

}  // namespace

CommandFn add_template_command(CLI::App& app) {
  auto o = std::make_shared<TemplateOptions>();
  auto* cmd = app.add_subcommand("template", "Render a conversation with the model's chat template");
  cmd->add_option("-m,--model", o->model_path, "GGUF model (or vocabulary-only) file")->required();
  cmd->add_option("--messages", o->messages_path, "JSON file: an array of messages")->required();
  cmd->add_flag("--add-generation-prompt", o->add_generation_prompt, "end with the assistant turn's opening");
  cmd->add_option("--tools", o->tools_path, "JSON file: an array of tool definitions");
  cmd->add_option("--template-name", o->template_name, "use tokenizer.chat_template.NAME");
  cmd->add_option("--var", o->variables, "extra template variable NAME=JSON (e.g. enable_thinking=false)");
  cmd->add_option("--dialect", o->dialect, "hf (@huggingface/jinja, the default) or python (Jinja2)")
      ->check(CLI::IsMember({"hf", "python"}))
      ->capture_default_str();
  cmd->add_flag("--tokens", o->tokens, "print the token ids (control tokens from template text only) as JSON");
  return [o] { return run_template(*o); };
}

}  // namespace hearth::cli
