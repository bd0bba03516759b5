#pragma once
// Named presets (system prompt + sampling settings) and key/value settings in hearth.db.
// Synchronous, one thread at a time, like Database (see database.h).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/conversation_types.h"
#include "storage/database.h"

namespace hearth {

class PresetStore {
 public:
  explicit PresetStore(Database& db);  // migrates to the latest conversation schema

  // Creates or replaces the preset of that name. Throws hearth::Error for an empty name or
  // sampling settings that are not a JSON object.
  void put(const Preset& preset);
  std::optional<Preset> get(std::string_view name);
  std::vector<Preset> list();  // by name
  bool remove(std::string_view name);  // false when there was none
  // Throws hearth::Error when `from` does not exist or `to` is taken.
  void rename(std::string_view from, std::string_view to);

 private:
  Database& db_;
};

class SettingsStore {
 public:
  explicit SettingsStore(Database& db);  // migrates to the latest conversation schema

  std::optional<std::string> get(std::string_view key);
  std::string get_or(std::string_view key, std::string_view fallback);
  void set(std::string_view key, std::string_view value);
  bool remove(std::string_view key);

 private:
  Database& db_;
};

}  // namespace hearth
