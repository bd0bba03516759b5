#pragma once
// Sampling settings as the JSON object stored in presets and conversations
// (presets.sampling_json, conversations.sampling_json):
//   {"temperature": 0.7, "top_k": 40, "top_p": 0.9, "min_p": 0.05, "repeat_penalty": 1.1,
//    "seed": 0, "preset": "Precise"}
// Every field is optional; "preset" names the preset a conversation was given (display only).
#include <string>

#include "core/sampling/sampler.h"

namespace hearth {

std::string sampling_to_json(const SamplingParams& params, const std::string& preset_name = {});
// `base` with the fields present in `json` replaced; a malformed text, an unknown field or a
// value of the wrong type changes nothing (settings are the user's own data, never fatal).
SamplingParams sampling_with_json(SamplingParams base, const std::string& json);
// The "preset" field, empty when absent.
std::string preset_name_of(const std::string& json);

}  // namespace hearth
