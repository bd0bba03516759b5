#pragma once
// Hand-built GGUF bytes for hostile-input tests and fuzz seeds. RawGguf encodes exactly the
// fields it is given, with no validation, so a test can write anything a malicious file could
// hold; make_corrupt_cases() derives dozens of broken variants of one small valid file, each
// with the words its error message must contain. Shared by tests/core/gguf and tests/fuzz.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hearth::gguf::testing {

// Little-endian byte builder for field payloads.
class Bytes {
 public:
  Bytes& u8(uint8_t v) { return raw(&v, 1); }
  Bytes& u32(uint32_t v) { return raw(&v, 4); }
  Bytes& i32(int32_t v) { return raw(&v, 4); }
  Bytes& u64(uint64_t v) { return raw(&v, 8); }
  Bytes& f32(float v) { return raw(&v, 4); }
  Bytes& f64(double v) { return raw(&v, 8); }
  Bytes& str(const std::string& s) { u64(s.size()); return raw(s.data(), s.size()); }
  Bytes& append(const std::vector<uint8_t>& b) { return raw(b.data(), b.size()); }
  Bytes& raw(const void* p, size_t n);
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

struct RawKv {
  std::string key;
  uint32_t type = 0;              // ValueType number
  std::vector<uint8_t> payload;   // the encoded value
  std::optional<std::vector<uint8_t>> verbatim;  // if set, written instead of key+type+payload
};

struct RawTensor {
  std::string name;
  std::vector<uint64_t> dims;
  uint32_t type = 0;    // ggml type id
  uint64_t offset = 0;  // from the start of the data section
};

// Byte offsets of the sections of an encoded file.
struct RawSections {
  std::vector<uint64_t> kv_starts;
  std::vector<uint64_t> tensor_info_starts;
  uint64_t header_end = 0;  // after the last tensor info, before padding
  uint64_t data_start = 0;
};

struct RawGguf {
  std::array<uint8_t, 4> magic = {'G', 'G', 'U', 'F'};
  uint32_t version = 3;
  std::optional<uint64_t> tensor_count;  // overrides tensors.size()
  std::optional<uint64_t> kv_count;      // overrides kvs.size()
  std::vector<RawKv> kvs;
  std::vector<RawTensor> tensors;
  uint64_t pad_alignment = 32;  // the header is padded to this
  uint64_t data_bytes = 0;      // data section size, filled with a byte pattern

  std::vector<uint8_t> encode(RawSections* sections = nullptr) const;
  // Sets tensor offsets back to back (aligned to pad_alignment) and data_bytes to their end.
  // Sizes come from kernels/common/dtype.h; unsupported types get 64 bytes.
  void place_tensors();
  RawKv* find(const std::string& key);
  void set(const std::string& key, uint32_t type, std::vector<uint8_t> payload);
};

// A small valid llama-like file: architecture, 8-token vocabulary with scores/types, special
// ids, a few hyperparameters, an array of arrays, and f32, q8_0, f16 tensors.
RawGguf small_valid_raw();
std::vector<uint8_t> small_valid_gguf();

struct CorruptCase {
  std::string name;
  std::vector<uint8_t> bytes;
  std::vector<std::string> expect;  // each must appear in the FormatError message
};

// Every variant must make GgufFile::from_bytes throw hearth::FormatError.
std::vector<CorruptCase> make_corrupt_cases();

}  // namespace hearth::gguf::testing
