#pragma once
// A bounds-checked little-endian cursor over untrusted bytes. Every read checks that the bytes
// are there first; a short read throws hearth::FormatError naming the byte offset and what was
// being read, so a truncated file says where it ends.
#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>

#include "core/common/error.h"

namespace hearth::gguf {

static_assert(std::endian::native == std::endian::little,
              "GGUF is little-endian; a big-endian host needs byte swapping here");

class ByteReader {
 public:
  // `source` prefixes every error ("model.gguf", "GGUF data").
  ByteReader(std::span<const uint8_t> bytes, std::string_view source) : bytes_(bytes), source_(source) {}

  uint64_t pos() const { return pos_; }
  uint64_t size() const { return bytes_.size(); }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  template <typename T>
  T read(std::string_view what) {
    static_assert(std::is_trivially_copyable_v<T> && !std::is_same_v<T, bool>);
    require(sizeof(T), what);
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  // The next n bytes as a view into the input (no copy).
  std::span<const uint8_t> read_bytes(uint64_t n, std::string_view what) {
    require(n, what);
    auto out = bytes_.subspan(static_cast<size_t>(pos_), static_cast<size_t>(n));
    pos_ += n;
    return out;
  }

  // Throws FormatError "<source>: at byte <at>: <message>".
  [[noreturn]] void fail_at(uint64_t at, std::string_view message) const {
    throw FormatError(fmt::format("{}: at byte {}: {}", source_, at, message));
  }
  [[noreturn]] void fail(std::string_view message) const {
    throw FormatError(fmt::format("{}: {}", source_, message));
  }

 private:
  void require(uint64_t n, std::string_view what) const {
    if (n > remaining()) {
      fail_at(pos_, fmt::format("file ends while reading {} (needs {} bytes, {} left)", what, n, remaining()));
    }
  }

  std::span<const uint8_t> bytes_;
  std::string source_;
  uint64_t pos_ = 0;
};

}  // namespace hearth::gguf
