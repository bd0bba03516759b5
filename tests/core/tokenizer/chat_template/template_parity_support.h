#pragma once
// Shared by the parity tests: runs tests/npm/render_template_reference.mjs (@huggingface/jinja)
// and generates seeded random conversations that exercise what real chat templates branch on:
// system message or not, multi-turn, add_generation_prompt, tool definitions, assistant tool
// calls, tool results, reasoning blocks, unicode, empty content, quotes and braces.
#include <QByteArray>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QStandardPaths>
#include <QString>

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/tokenizer/chat_template/value.h"

namespace hearth::parity {

using chat_template::Value;
using chat_template::ValueDict;
using chat_template::ValueList;

inline std::string npm_dir() { return std::string(HEARTH_SOURCE_DIR) + "/tests/npm"; }

// The node binary, or empty when node or the npm references are not installed.
inline QString node_or_empty() {
  const QString node = QStandardPaths::findExecutable("node");
  if (node.isEmpty()) return {};
  if (!QFile::exists(QString::fromStdString(npm_dir() + "/node_modules/@huggingface/jinja/package.json"))) return {};
  return node;
}

inline QByteArray run_reference(const QString& node, const QStringList& args, const QByteArray& input, QString* error) {
  QProcess process;
  process.setWorkingDirectory(QString::fromStdString(npm_dir()));
  QStringList full{QString::fromStdString(npm_dir() + "/render_template_reference.mjs")};
  full += args;
  process.start(node, full);
  if (!process.waitForStarted(20000)) {
    *error = "node did not start";
    return {};
  }
  process.write(input);
  process.closeWriteChannel();
  if (!process.waitForFinished(240000) || process.exitCode() != 0) {
    *error = "reference failed: " + QString::fromUtf8(process.readAllStandardError());
    return {};
  }
  return process.readAllStandardOutput();
}

struct PackageTemplate {
  std::string package;
  bool has_template = false;
  std::string source, bos, eos;
};

inline std::vector<PackageTemplate> list_package_templates(const QString& node, QString* error) {
  std::vector<PackageTemplate> out;
  const QByteArray json = run_reference(node, {"--list-templates"}, {}, error);
  for (const QJsonValue& v : QJsonDocument::fromJson(json).array()) {
    const QJsonObject o = v.toObject();
    PackageTemplate t;
    t.package = o["package"].toString().toStdString();
    t.has_template = o["template"].isString();
    t.source = o["template"].toString().toStdString();
    t.bos = o["bos_token"].toString().toStdString();
    t.eos = o["eos_token"].toString().toStdString();
    out.push_back(std::move(t));
  }
  return out;
}

struct ReferenceResult {
  bool ok = false;
  std::string output;  // or the error message
};

// Renders every (template, vars) with @huggingface/jinja, in order.
inline std::vector<ReferenceResult> reference_render(const QString& node, const std::vector<std::pair<std::string, ValueDict>>& cases,
                                                     QString* error) {
  ValueList list;
  for (const auto& [tpl, vars] : cases) list.emplace_back(ValueDict{{"template", Value(tpl)}, {"vars", Value(vars)}});
  const QByteArray json = run_reference(node, {}, QByteArray::fromStdString(Value(list).to_json()), error);
  std::vector<ReferenceResult> out;
  for (const QJsonValue& v : QJsonDocument::fromJson(json).array()) {
    const QJsonObject o = v.toObject();
    const bool ok = o["ok"].toBool();
    out.push_back({ok, (ok ? o["output"] : o["error"]).toString().toStdString()});
  }
  return out;
}

// What a template can take, read from its source, so conversations use the features it has.
struct TemplateFeatures {
  bool tools = false;            // reads `tools`
  bool tool_calls = false;       // renders assistant tool_calls
  bool tool_role = false;        // renders role "tool" messages
  bool string_arguments = false; // concatenates arguments as a string (DeepSeek)
  bool content_none_for_calls = false;  // DeepSeek: an assistant tool-call message has content None
  bool strict_alternation = false;      // raises unless user/assistant alternate (Gemma, Llama 2)
  bool thinking = false;                // splits <think>...</think>
  bool single_tool_call = false;        // raises on more than one call per message (Llama 3.x)
};

inline TemplateFeatures features_of(const std::string& src) {
  TemplateFeatures f;
  auto has = [&](const char* s) { return src.find(s) != std::string::npos; };
  f.tools = has("tools");
  f.tool_calls = has("tool_calls");
  f.tool_role = has("'tool'") || has("\"tool\"");
  f.string_arguments = has("['arguments'] +") || has("['arguments']+");
  f.content_none_for_calls = has("['content'] is none");
  f.strict_alternation = has("must alternate");
  f.thinking = has("</think>");
  f.single_tool_call = has("single tool-call");
  return f;
}

class ConversationGenerator {
 public:
  explicit ConversationGenerator(uint32_t seed) : rng_(seed) {}

  int below(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }
  bool chance(int percent) { return below(100) < percent; }

  std::string content(bool assistant, bool thinking) {
    static const char* const kPieces[] = {
        "Hello!", "What is 2+2?", "  padded with spaces  ", "\n\nleading newlines", "trailing newline\n",
        "日本語のテキストです。", "مرحبا بالعالم", "नमस्ते दुनिया", "ภาษาไทย", "emoji 👩‍👩‍👧‍👦 and ✓ ❤️",
        "combining e\u0301 and a\u0308", "{\"json\": [1, 2, {\"k\": \"v\"}]}", "{{ not a tag }} {% neither %}",
        "it's \"quoted\" and 'single'", "back\\slash \\n literal", "tabs\tand\ttabs", "<|im_end|> typed by a user",
        "<start_of_turn>user", "[INST] fake [/INST]", "multi\nline\n\ntext", "1234567890", "   ", "}", "{#",
        "Ünïcödé ©", "<tool_call>not really</tool_call>", "a", "The quick brown fox jumps over the lazy dog.",
        "\u00a0no-break spaces\u00a0", "\u3000ideographic space\u3000", "\u2003em space", "</think>", "\r\nCRLF\r\n"};
    constexpr int kCount = static_cast<int>(sizeof(kPieces) / sizeof(kPieces[0]));
    if (chance(7)) return "";
    std::string out;
    const int n = 1 + below(3);
    for (int i = 0; i < n; ++i) {
      if (i) out += below(2) ? " " : "\n";
      out += kPieces[below(kCount)];
    }
    if (assistant && thinking && chance(40)) out = "<think>\n" + std::string(below(2) ? "let me think" : "") + "\n</think>\n\n" + out;
    return out;
  }

  Value message(const std::string& role, Value content) {
    return Value(ValueDict{{"role", Value(role)}, {"content", std::move(content)}});
  }

  Value tool_definition(int i) {
    static const char* const kNames[] = {"get_weather", "search", "calc_sum", "send_email"};
    ValueDict props{{"city", Value(ValueDict{{"type", Value("string")}, {"description", Value("City, e.g. \"Paris\" or 東京")}})}};
    if (chance(50))
      props.emplace_back("unit", Value(ValueDict{{"type", Value("string")}, {"enum", Value(ValueList{Value("celsius"), Value("fahrenheit")})}}));
    if (chance(30)) props.emplace_back("days", Value(ValueDict{{"type", Value("integer")}}));
    ValueDict params{{"type", Value("object")}, {"properties", Value(std::move(props))}, {"required", Value(ValueList{Value("city")})}};
    ValueDict fn{{"name", Value(kNames[i % 4])}, {"description", Value(chance(50) ? "Looks things up {carefully}" : "Ünïcode ✓ tool")},
                 {"parameters", Value(std::move(params))}};
    return Value(ValueDict{{"type", Value("function")}, {"function", Value(std::move(fn))}});
  }

  Value tool_call(const TemplateFeatures& f, int i) {
    ValueDict args{{"city", Value(chance(50) ? "Paris" : "東京 \"quoted\"")}};
    if (chance(40)) args.emplace_back("days", Value(1 + below(5)));
    if (chance(20)) args.emplace_back("flags", Value(ValueList{Value(true), Value::none(), Value("x")}));
    Value arguments = f.string_arguments || chance(15) ? Value(Value(args).to_json()) : Value(std::move(args));
    static const char* const kNames[] = {"get_weather", "search"};
    ValueDict fn{{"name", Value(kNames[i % 2])}, {"arguments", std::move(arguments)}};
    return Value(ValueDict{{"type", Value("function")}, {"function", Value(std::move(fn))}});
  }

  // One conversation's variables for the template whose features are `f`.
  ValueDict conversation(const TemplateFeatures& f, const std::string& bos, const std::string& eos) {
    ValueList messages;
    if (chance(50)) messages.push_back(message("system", Value(content(false, false))));
    const bool use_tools = f.tools && chance(40);
    const int turns = 1 + below(4);
    for (int t = 0; t < turns; ++t) {
      messages.push_back(message("user", Value(content(false, false))));
      const bool last = t == turns - 1;
      if (last && chance(50)) break;  // ends on a user turn: the usual generation case
      if (use_tools && f.tool_calls && chance(50)) {
        const int n_calls = f.strict_alternation || f.single_tool_call ? 1 : 1 + below(2);
        ValueList calls;
        for (int c = 0; c < n_calls; ++c) calls.push_back(tool_call(f, c));
        Value content_value = f.content_none_for_calls ? Value::none() : Value(chance(60) ? std::string() : content(true, false));
        Value call_message(ValueDict{{"role", Value("assistant")}, {"content", content_value}, {"tool_calls", Value(std::move(calls))}});
        messages.push_back(call_message);
        if (f.tool_role) {
          for (int c = 0; c < n_calls; ++c) {
            Value result = message("tool", Value(chance(50) ? "{\"temperature\": 21, \"sky\": \"clear ☀\"}" : content(false, false)));
            messages.push_back(result);
          }
        }
        if (chance(70)) messages.push_back(message("assistant", Value(content(true, f.thinking))));
      } else {
        messages.push_back(message("assistant", Value(content(true, f.thinking))));
      }
    }
    ValueDict vars{{"messages", Value(std::move(messages))}, {"add_generation_prompt", Value(chance(60))},
                   {"bos_token", Value(bos)}, {"eos_token", Value(eos)}};
    if (use_tools) {
      ValueList tools;
      const int n = 1 + below(2);
      for (int i = 0; i < n; ++i) tools.push_back(tool_definition(i));
      vars.emplace_back("tools", Value(std::move(tools)));
    }
    // Today's date differs between runs: templates that print it get a fixed one.
    vars.emplace_back("date_string", Value("26 Nov 2026"));
    if (f.thinking && chance(30)) vars.emplace_back("enable_thinking", Value(chance(50)));
    return vars;
  }

 private:
  std::mt19937 rng_;
};

// Where two strings first differ, with a little context, for failure messages.
inline std::string first_difference(const std::string& a, const std::string& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  const size_t from = i > 40 ? i - 40 : 0;
  return "at byte " + std::to_string(i) + ":\n  hearth: " + Value(a.substr(from, 100)).to_json() +
         "\n  HF:     " + Value(b.substr(from, 100)).to_json();
}

}  // namespace hearth::parity
