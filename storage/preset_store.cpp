#include "storage/preset_store.h"

#include <fmt/format.h>

#include "storage/conversation_schema.h"
#include "storage/json_fields.h"

namespace hearth {

PresetStore::PresetStore(Database& db) : db_(db) { migrate_conversation_schema(db_); }

void PresetStore::put(const Preset& preset) {
  if (preset.name.empty()) throw Error("a preset needs a name");
  require_json_object(preset.sampling_json, "sampling settings");
  db_.prepare(
         "INSERT INTO presets (name, system_prompt, sampling_json) VALUES (?1, ?2, ?3) "
         "ON CONFLICT (name) DO UPDATE SET system_prompt = excluded.system_prompt, sampling_json = excluded.sampling_json")
      .bind(1, preset.name)
      .bind(2, preset.system_prompt)
      .bind(3, preset.sampling_json)
      .run();
}

std::optional<Preset> PresetStore::get(std::string_view name) {
  auto st = db_.prepare("SELECT name, system_prompt, sampling_json FROM presets WHERE name = ?1");
  st.bind(1, name);
  if (!st.step()) return std::nullopt;
  return Preset{st.text(0), st.text(1), st.text(2)};
}

std::vector<Preset> PresetStore::list() {
  auto st = db_.prepare("SELECT name, system_prompt, sampling_json FROM presets ORDER BY name");
  std::vector<Preset> out;
  while (st.step()) out.push_back({st.text(0), st.text(1), st.text(2)});
  return out;
}

bool PresetStore::remove(std::string_view name) {
  db_.prepare("DELETE FROM presets WHERE name = ?1").bind(1, name).run();
  return db_.changes() > 0;
}

void PresetStore::rename(std::string_view from, std::string_view to) {
  if (to.empty()) throw Error("a preset needs a name");
  auto tx = db_.transaction();
  if (!get(from)) throw Error(fmt::format("no preset named \"{}\"", from));
  if (from != to && get(to)) throw Error(fmt::format("a preset named \"{}\" exists already", to));
  db_.prepare("UPDATE presets SET name = ?2 WHERE name = ?1").bind(1, from).bind(2, to).run();
  tx.commit();
}

SettingsStore::SettingsStore(Database& db) : db_(db) { migrate_conversation_schema(db_); }

std::optional<std::string> SettingsStore::get(std::string_view key) {
  auto st = db_.prepare("SELECT value FROM settings WHERE key = ?1");
  st.bind(1, key);
  if (!st.step()) return std::nullopt;
  return st.text(0);
}

std::string SettingsStore::get_or(std::string_view key, std::string_view fallback) {
  auto value = get(key);
  return value ? *value : std::string(fallback);
}

void SettingsStore::set(std::string_view key, std::string_view value) {
  db_.prepare("INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
      .bind(1, key)
      .bind(2, value)
      .run();
}

bool SettingsStore::remove(std::string_view key) {
  db_.prepare("DELETE FROM settings WHERE key = ?1").bind(1, key).run();
  return db_.changes() > 0;
}

}  // namespace hearth
