#include "storage/conversation_export.h"

#include <limits>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace hearth {
namespace {

using nlohmann::json;

constexpr int kMaxJsonDepth = 32;  // the format nests 4 deep; deeper is an attack or an accident

std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

[[noreturn]] void bad(const std::string& what) { throw FormatError("conversation import: " + what); }

const json& field(const json& object, const char* name, const std::string& where) {
  auto it = object.find(name);
  if (it == object.end()) bad(fmt::format("{}{} is missing", where, name));
  return *it;
}

std::string string_field(const json& object, const char* name, const std::string& where, bool required) {
  auto it = object.find(name);
  if (it == object.end()) {
    if (required) bad(fmt::format("{}{} is missing", where, name));
    return {};
  }
  if (!it->is_string()) bad(fmt::format("{}{} is not a string", where, name));
  return it->get<std::string>();
}

int64_t int_field(const json& object, const char* name, const std::string& where, int64_t fallback, int64_t min_value) {
  auto it = object.find(name);
  if (it == object.end()) return fallback;
  if (!it->is_number_integer()) bad(fmt::format("{}{} is not an integer", where, name));
  if (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())) {
    bad(fmt::format("{}{} is too large", where, name));
  }
  const int64_t value = it->get<int64_t>();
  if (value < min_value) bad(fmt::format("{}{} is {}, below {}", where, name, value, min_value));
  return value;
}

std::string object_field(const json& object, const char* name, const std::string& where) {
  auto it = object.find(name);
  if (it == object.end()) return "{}";
  if (!it->is_object()) bad(fmt::format("{}{} is not an object", where, name));
  return it->dump();
}

std::optional<int64_t> id_or_null(const json& value, const std::string& what) {
  if (value.is_null()) return std::nullopt;
  if (!value.is_number_integer() ||
      (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))) {
    bad(what + " is not a message id");
  }
  return value.get<int64_t>();
}

json parse_untrusted(std::string_view text) {
  if (text.size() > kMaxImportBytes) bad(fmt::format("the file is {} bytes, more than the {} allowed", text.size(), kMaxImportBytes));
  // The callback sees every value with its depth before it is built, so nesting bombs stop early.
  const json::parser_callback_t limit_depth = [](int depth, json::parse_event_t, json&) {
    if (depth > kMaxJsonDepth) bad(fmt::format("JSON nested deeper than {} levels", kMaxJsonDepth));
    return true;
  };
  try {
    return json::parse(text, limit_depth);
  } catch (const json::parse_error& e) {
    bad(fmt::format("not valid JSON: {}", e.what()));
  }
}

json parse_object_text(const std::string& text) {
  // Columns were checked on write; a hand-edited database still exports as an empty object.
  json value = json::parse(text, nullptr, false);
  return value.is_object() ? value : json::object();
}

}  // namespace

std::string export_markdown(ConversationStore& store, int64_t conversation_id) {
  const auto conversation = store.get(conversation_id);
  if (!conversation) throw Error(fmt::format("no conversation with id {}", conversation_id));
  std::string out = fmt::format("# {}\n\n", one_line(conversation->title.empty() ? "Conversation" : conversation->title));
  if (!conversation->settings.model.empty()) out += fmt::format("Model: {}\n\n", one_line(conversation->settings.model));
  if (!conversation->settings.system_prompt.empty()) {
    out += fmt::format("## System\n\n{}\n\n", conversation->settings.system_prompt);
  }
  for (const Message& m : store.active_path(conversation_id)) {
    std::string heading(role_name(m.role));
    heading[0] = static_cast<char>(heading[0] - 'a' + 'A');
    out += fmt::format("## {}\n\n{}\n\n", heading, m.content);
  }
  return out;
}

std::string export_json(ConversationStore& store, int64_t conversation_id) {
  const auto conversation = store.get(conversation_id);
  if (!conversation) throw Error(fmt::format("no conversation with id {}", conversation_id));
  json doc = {
      {"format", kConversationJsonFormat},
      {"version", kConversationJsonVersion},
      {"title", conversation->title},
      {"model", conversation->settings.model},
      {"system_prompt", conversation->settings.system_prompt},
      {"sampling", parse_object_text(conversation->settings.sampling_json)},
      {"created_at_ms", conversation->created_at_ms},
      {"updated_at_ms", conversation->updated_at_ms},
      {"active_leaf", conversation->active_leaf_id ? json(*conversation->active_leaf_id) : json(nullptr)},
  };
  json messages = json::array();
  for (const Message& m : store.all_messages(conversation_id)) {
    messages.push_back({
        {"id", m.id},
        {"parent", m.parent_id ? json(*m.parent_id) : json(nullptr)},
        {"role", role_name(m.role)},
        {"content", m.content},
        {"prompt_tokens", m.prompt_tokens},
        {"completion_tokens", m.completion_tokens},
        {"timings", parse_object_text(m.timings_json)},
        {"created_at_ms", m.created_at_ms},
    });
  }
  doc["messages"] = std::move(messages);
  // Invalid UTF-8 in the database (only possible by hand) becomes U+FFFD instead of an error.
  return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

int64_t import_json(ConversationStore& store, std::string_view json_text) {
  const json doc = parse_untrusted(json_text);
  if (!doc.is_object()) bad("the top level is not an object");
  if (string_field(doc, "format", "", true) != kConversationJsonFormat) {
    bad(fmt::format("format is not \"{}\"", kConversationJsonFormat));
  }
  const int64_t version = int_field(doc, "version", "", -1, 1);
  if (version != kConversationJsonVersion) {
    bad(fmt::format("version {} is not supported (this Hearth reads version {})", version, kConversationJsonVersion));
  }
  const std::string title = string_field(doc, "title", "", true);
  ConversationSettings settings;
  settings.model = string_field(doc, "model", "", false);
  settings.system_prompt = string_field(doc, "system_prompt", "", false);
  settings.sampling_json = object_field(doc, "sampling", "");
  const int64_t now = now_ms();
  const int64_t created_at = int_field(doc, "created_at_ms", "", now, 0);
  const int64_t updated_at = int_field(doc, "updated_at_ms", "", created_at, 0);
  const json& messages = field(doc, "messages", "");
  if (!messages.is_array()) bad("messages is not an array");
  const auto active_leaf = id_or_null(doc.value("active_leaf", json(nullptr)), "active_leaf");

  // Validate everything before writing anything.
  struct Parsed {
    int64_t file_id;
    std::optional<int64_t> file_parent;
    Role role;
    std::string content;
    int64_t prompt_tokens, completion_tokens;
    std::string timings_json;
    int64_t created_at;
  };
  std::vector<Parsed> parsed;
  parsed.reserve(messages.size());
  std::unordered_map<int64_t, size_t> index_of_file_id;
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string where = fmt::format("messages[{}].", i);
    const json& m = messages[i];
    if (!m.is_object()) bad(fmt::format("messages[{}] is not an object", i));
    Parsed p;
    const auto id = id_or_null(field(m, "id", where), where + "id");
    if (!id) bad(where + "id is null");
    p.file_id = *id;
    if (!index_of_file_id.emplace(p.file_id, i).second) bad(fmt::format("{}id {} appears twice", where, p.file_id));
    p.file_parent = id_or_null(m.value("parent", json(nullptr)), where + "parent");
    if (p.file_parent) {
      auto it = index_of_file_id.find(*p.file_parent);
      if (it == index_of_file_id.end() || it->second >= i) {
        bad(fmt::format("{}parent: {} is not an earlier message", where, *p.file_parent));
      }
    }
    const std::string role = string_field(m, "role", where, true);
    const auto parsed_role = parse_role(role);
    if (!parsed_role) bad(fmt::format("{}role \"{}\" is not system, user, assistant or tool", where, one_line(role.substr(0, 40))));
    p.role = *parsed_role;
    p.content = string_field(m, "content", where, true);
    p.prompt_tokens = int_field(m, "prompt_tokens", where, 0, 0);
    p.completion_tokens = int_field(m, "completion_tokens", where, 0, 0);
    p.timings_json = object_field(m, "timings", where);
    p.created_at = int_field(m, "created_at_ms", where, created_at, 0);
    parsed.push_back(std::move(p));
  }
  if (active_leaf && !index_of_file_id.count(*active_leaf)) bad(fmt::format("active_leaf {} is not a message", *active_leaf));

  Database& db = store.database();
  auto tx = db.transaction();
  db.prepare(
        "INSERT INTO conversations (title, created_at, updated_at, model, system_prompt, sampling_json) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
      .bind(1, title)
      .bind(2, created_at)
      .bind(3, updated_at)
      .bind(4, settings.model)
      .bind(5, settings.system_prompt)
      .bind(6, settings.sampling_json)
      .run();
  const int64_t conversation_id = db.last_insert_id();
  std::unordered_map<int64_t, int64_t> new_id_of;  // file id -> database id
  auto insert = db.prepare(
      "INSERT INTO messages (conversation_id, parent_id, role, content, prompt_tokens, completion_tokens, "
      "timings_json, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  for (const Parsed& p : parsed) {
    insert.reset();
    insert.bind(1, conversation_id)
        .bind(2, p.file_parent ? std::optional<int64_t>(new_id_of.at(*p.file_parent)) : std::nullopt)
        .bind(3, role_name(p.role))
        .bind(4, p.content)
        .bind(5, p.prompt_tokens)
        .bind(6, p.completion_tokens)
        .bind(7, p.timings_json)
        .bind(8, p.created_at);
    insert.run();
    new_id_of[p.file_id] = db.last_insert_id();
  }
  const std::optional<int64_t> leaf =
      active_leaf ? std::optional<int64_t>(new_id_of.at(*active_leaf))
                  : (parsed.empty() ? std::nullopt : std::optional<int64_t>(new_id_of.at(parsed.back().file_id)));
  db.prepare("UPDATE conversations SET active_leaf_id = ?2 WHERE id = ?1").bind(1, conversation_id).bind(2, leaf).run();
  tx.commit();
  return conversation_id;
}

}  // namespace hearth
