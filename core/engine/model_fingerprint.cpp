#include "core/engine/model_fingerprint.h"

#include <algorithm>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace hearth {

uint64_t model_fingerprint(const gguf::GgufFile& file) {
  uint64_t h = XXH3_64bits_withSeed(nullptr, 0, file.file_size());
  for (const auto& t : file.tensors()) {
    h = XXH3_64bits_withSeed(t.name.data(), t.name.size(), h);
    h = XXH3_64bits_withSeed(t.dims.data(), t.dims.size() * sizeof(uint64_t), h);
    const uint64_t fields[] = {static_cast<uint64_t>(t.type), t.offset, t.n_bytes};
    h = XXH3_64bits_withSeed(fields, sizeof(fields), h);
    // Up to 4 KiB of every tensor's data: differs between two random or trained weight sets.
    const auto data = file.tensor_data(t);
    h = XXH3_64bits_withSeed(data.data(), std::min<size_t>(data.size(), 4096), h);
  }
  return h;
}

}  // namespace hearth
