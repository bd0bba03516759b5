#pragma once
// Checks for the JSON text columns (sampling settings, timings): they must hold a JSON object,
// so readers never meet a half-written or foreign value.
#include <string_view>

namespace hearth {

bool is_json_object(std::string_view text);
// Throws hearth::Error("<field> is not a JSON object") otherwise.
void require_json_object(std::string_view text, std::string_view field);

}  // namespace hearth
