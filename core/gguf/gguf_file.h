#pragma once
// A parsed, validated GGUF file (versions 2 and 3). Everything in the file is untrusted: open()
// checks every count, length, offset, dimension product and type before use and throws
// hearth::FormatError naming what is wrong. After open() succeeds, tensor data can be read
// without further checks: each tensor's bytes lie inside the file, are aligned, and do not
// overlap another tensor's.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/common/dtype.h"
#include "core/gguf/gguf_value.h"

namespace hearth::gguf {

// Limits that keep a malicious file from making us allocate or loop without end.
struct Limits {
  uint64_t max_string_bytes = 1u << 24;        // 16 MiB (chat templates are large, not this large)
  uint64_t max_array_items = 1u << 24;         // vocabularies are ~256k; merges ~300k
  uint32_t max_array_depth = 4;                // nested arrays
  uint64_t max_kv_count = 1u << 16;
  uint64_t max_tensor_count = 1u << 16;
  uint32_t max_dims = 4;
  uint64_t max_metadata_bytes = 1ull << 31;    // total decoded metadata
};

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // dims[0] is the row length (innermost, contiguous)
  DType type = DType::F32;
  uint64_t offset = 0;         // from the start of the data section
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  uint64_t n_rows() const { return dims.empty() ? 0 : n_elements / dims[0]; }
};

class GgufFile {
 public:
  // Memory-maps and validates the file. Throws hearth::FormatError / hearth::Error.
  // Special token ids (tokenizer.ggml.*_token_id) must be < the vocabulary size, except the
  // "no token" value -1, which llama.cpp stores as 0xFFFFFFFF in uint32 fields.
  static GgufFile open(const std::filesystem::path& path, const Limits& limits = {});
  // Parses and validates an in-memory copy (tests, fuzzing).
  static GgufFile from_bytes(std::vector<uint8_t> bytes, const Limits& limits = {});

  GgufFile(GgufFile&&) noexcept;
  GgufFile& operator=(GgufFile&&) noexcept;
  ~GgufFile();

  uint32_t version() const;
  // general.alignment (uint32): a power of two from 1 to 65536, default 32. Larger values are
  // rejected as corrupt (see kMaxAlignment in gguf_file_impl.h).
  uint64_t alignment() const;
  uint64_t file_size() const;
  uint64_t data_offset() const;  // start of the tensor data section in the file

  // Metadata in file order.
  const std::vector<std::pair<std::string, Value>>& metadata() const;
  const Value* find(std::string_view key) const;

  // Typed getters: nullopt when the key is absent; FormatError when present with a type that
  // cannot represent the request (a string for an integer, a negative number for an unsigned
  // value, an array of the wrong element type).
  std::optional<uint64_t> get_uint(std::string_view key) const;
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;  // any integer or float type
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  std::optional<std::vector<std::string>> get_string_array(std::string_view key) const;
  std::optional<std::vector<float>> get_float_array(std::string_view key) const;
  std::optional<std::vector<int64_t>> get_int_array(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const;
  const TensorInfo* find_tensor(std::string_view name) const;
  // The tensor's bytes (inside the mapping; valid while this GgufFile lives).
  std::span<const uint8_t> tensor_data(const TensorInfo& t) const;

 private:
  struct Impl;
  explicit GgufFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Writes GGUF v3. Tensors are added with a fill callback so multi-gigabyte files are streamed,
// never held in memory whole.
class GgufWriter {
 public:
  explicit GgufWriter(uint64_t alignment = 32);

  void set(std::string key, Value value);  // replaces an existing key, keeps first position
  // fill(dst) writes exactly row_bytes(type, dims[0]) * n_rows bytes into dst.
  void add_tensor(std::string name, DType type, std::vector<uint64_t> dims,
                  std::function<void(uint8_t* dst)> fill);
  void add_tensor(std::string name, DType type, std::vector<uint64_t> dims, std::span<const uint8_t> bytes);

  // Writes to `path` through a temporary file renamed into place. Throws hearth::Error.
  void write(const std::filesystem::path& path) const;
  std::vector<uint8_t> write_to_bytes() const;  // for tests

 private:
  struct PendingTensor {
    std::string name;
    DType type;
    std::vector<uint64_t> dims;
    uint64_t n_bytes;
    std::function<void(uint8_t*)> fill;
  };
  uint64_t alignment_;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace hearth::gguf
