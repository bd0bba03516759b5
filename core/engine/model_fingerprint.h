#pragma once
// A 64-bit identity of a model's weights for prefix-cache keys: the tensor table (names, shapes,
// types, offsets), the file size and a sample of the tensor data. Cheap (no full read), and two
// files with the same table but different weights differ in the sampled bytes almost surely.
#include <cstdint>

#include "core/gguf/gguf_file.h"

namespace hearth {

uint64_t model_fingerprint(const gguf::GgufFile& file);

}  // namespace hearth
