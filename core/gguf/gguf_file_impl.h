#pragma once
// The state behind GgufFile, shared by the parser (gguf_reader.cpp), the semantic checks
// (gguf_known_keys.cpp, gguf_tensor_layout.cpp) and the accessors (gguf_file.cpp).
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/gguf/gguf_file.h"
#include "core/gguf/mapped_file.h"

namespace hearth::gguf {

// Largest general.alignment we accept. Real files use 32 (the default) or 64; anything up to a
// 64 KiB page is plausible, beyond that a value is far more likely corrupt than intended, and a
// huge alignment would let a tiny header claim a huge padding gap.
inline constexpr uint64_t kMaxAlignment = 1u << 16;
inline constexpr uint64_t kDefaultAlignment = 32;

// GgufFile::Impl derives from this (Impl itself is private to GgufFile).
struct GgufContents {
  std::optional<MappedFile> mapping;  // set by open()
  std::vector<uint8_t> owned;         // set by from_bytes()
  std::span<const uint8_t> bytes;     // the whole file, in `mapping` or `owned`
  std::string source;                 // path or "GGUF data", for error messages

  uint32_t version = 0;
  uint64_t alignment = kDefaultAlignment;
  uint64_t data_offset = 0;

  std::vector<std::pair<std::string, Value>> metadata;
  std::map<std::string, size_t, std::less<>> key_index;     // key -> index in metadata
  std::vector<TensorInfo> tensors;
  std::map<std::string, size_t, std::less<>> tensor_index;  // name -> index in tensors

  const Value* find(std::string_view key) const {
    auto it = key_index.find(key);
    return it == key_index.end() ? nullptr : &metadata[it->second].second;
  }
};

// Parses header, metadata and tensor table of impl.bytes into impl, then runs the checks below.
void parse_gguf(GgufContents& impl, const Limits& limits);
// Type checks of well-known keys (general.alignment, tokenizer.*, <arch>.block_count, ...).
void check_known_keys(const GgufContents& impl);
// Alignment, bounds and overlap of tensor data; sets impl.data_offset.
void check_tensor_layout(GgufContents& impl, uint64_t header_end);

}  // namespace hearth::gguf
