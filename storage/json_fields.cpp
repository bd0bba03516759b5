#include "storage/json_fields.h"

#include <string>

#include <nlohmann/json.hpp>

#include "core/common/error.h"

namespace hearth {

bool is_json_object(std::string_view text) {
  const auto value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return value.is_object();
}

void require_json_object(std::string_view text, std::string_view field) {
  if (!is_json_object(text)) throw Error(std::string(field) + " is not a JSON object");
}

}  // namespace hearth
