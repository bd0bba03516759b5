// Parsing of the GGUF header, metadata and tensor table from untrusted bytes.
//
// Layout (all little-endian):
//   "GGUF" u32:version u64:tensor_count u64:kv_count
//   kv_count x { string:key u32:value_type value }
//   tensor_count x { string:name u32:n_dims u64:dims[n_dims] u32:ggml_type u64:offset }
//   padding to general.alignment, then the data section.
//   string = u64:length + bytes; array = u32:element_type u64:count + items.
//
// Nothing is allocated in proportion to a count read from the file before the remaining bytes
// are shown to be able to hold that many items, so a count of 2^60 fails at once.
#include <array>
#include <string>

#include <fmt/format.h>

#include "core/common/checked_math.h"
#include "core/gguf/byte_reader.h"
#include "core/gguf/gguf_file_impl.h"

namespace hearth::gguf {
namespace {

// Fewest bytes a kv pair / tensor info can take: key or name of at least one byte.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;                 // key, type, smallest value
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;  // name, n_dims, one dim, type, offset

bool is_known_value_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::kFloat64); }

// Encoded size of a scalar, or the smallest possible encoding of a string or array.
uint64_t min_encoded_bytes(ValueType t) {
  switch (t) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kBool: return 1;
    case ValueType::kUint16: case ValueType::kInt16: return 2;
    case ValueType::kUint32: case ValueType::kInt32: case ValueType::kFloat32: return 4;
    case ValueType::kUint64: case ValueType::kInt64: case ValueType::kFloat64: return 8;
    case ValueType::kString: return 8;     // the length
    case ValueType::kArray: return 4 + 8;  // element type + count
  }
  return 1;
}

constexpr uint64_t kNoItem = UINT64_MAX;

class Parser {
 public:
  Parser(GgufContents& impl, const Limits& limits)
      : impl_(impl), limits_(limits), in_(impl.bytes, impl.source) {}

  void parse() {
    read_header();
    for (uint64_t i = 0; i < kv_count_; ++i) read_kv(i);
    check_known_keys(impl_);
    for (uint64_t i = 0; i < tensor_count_; ++i) read_tensor_info(i);
    check_tensor_layout(impl_, in_.pos());
  }

 private:
  void read_header() {
    if (in_.size() < 4) in_.fail(fmt::format("not a GGUF file: only {} bytes", in_.size()));
    const auto magic = in_.read_bytes(4, "the magic");
    if (!(magic[0] == 'G' && magic[1] == 'G' && magic[2] == 'U' && magic[3] == 'F')) {
      in_.fail(fmt::format("not a GGUF file: magic is {:02x} {:02x} {:02x} {:02x}, expected \"GGUF\"",
                           magic[0], magic[1], magic[2], magic[3]));
    }
    const uint64_t version_at = in_.pos();
    const auto version = in_.read<uint32_t>("the version");
    if (version == 1) {
      in_.fail_at(version_at, "GGUF version 1 is not supported (obsolete format; reconvert the model "
                              "with a current llama.cpp); supported versions: 2, 3");
    }
    if (version == 0x02000000u || version == 0x03000000u) {
      in_.fail_at(version_at, "big-endian GGUF files are not supported");
    }
    if (version != 2 && version != 3) {
      in_.fail_at(version_at, fmt::format("unsupported GGUF version {} (supported: 2, 3)", version));
    }
    impl_.version = version;

    const uint64_t counts_at = in_.pos();
    tensor_count_ = in_.read<uint64_t>("the tensor count");
    kv_count_ = in_.read<uint64_t>("the metadata count");
    if (tensor_count_ > limits_.max_tensor_count) {
      in_.fail_at(counts_at, fmt::format("tensor count {} exceeds the limit of {}", tensor_count_,
                                         limits_.max_tensor_count));
    }
    if (kv_count_ > limits_.max_kv_count) {
      in_.fail_at(counts_at + 8, fmt::format("metadata count {} exceeds the limit of {}", kv_count_,
                                             limits_.max_kv_count));
    }
    // Both counts are bounded above, so this cannot overflow; still, keep it checked.
    uint64_t kv_min = 0, tensor_min = 0, header_min = 0;
    if (!checked_mul(kv_count_, kMinKvBytes, kv_min) ||
        !checked_mul(tensor_count_, kMinTensorInfoBytes, tensor_min) ||
        !checked_add(kv_min, tensor_min, header_min) || header_min > in_.remaining()) {
      in_.fail_at(counts_at, fmt::format("{} metadata entries and {} tensors cannot fit in the {} bytes "
                                         "left in the file", kv_count_, tensor_count_, in_.remaining()));
    }
    impl_.metadata.reserve(kv_count_);
    impl_.tensors.reserve(tensor_count_);
  }

  // Reads a u64 length and that many bytes. `what` names the string in errors.
  // `item` is the index inside an array, or kNoItem; the label is only built on failure, so a
  // 300k-entry vocabulary costs no string formatting.
  std::string read_string(std::string_view what, uint64_t item = kNoItem) {
    const uint64_t at = in_.pos();
    const auto length = in_.read<uint64_t>(what);
    if (length > limits_.max_string_bytes) {
      in_.fail_at(at, fmt::format("{}: string length {} exceeds the limit of {} bytes", label(what, item),
                                  length, limits_.max_string_bytes));
    }
    if (length > in_.remaining()) {
      in_.fail_at(at, fmt::format("{}: string length {} runs past the end of the file ({} bytes left)",
                                  label(what, item), length, in_.remaining()));
    }
    count_decoded(length, at, what);
    const auto bytes = in_.read_bytes(length, what);
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }

  static std::string label(std::string_view what, uint64_t item) {
    return item == kNoItem ? std::string(what) : fmt::format("{} item {}", what, item);
  }

  void count_decoded(uint64_t n, uint64_t at, std::string_view what) {
    if (!checked_add(decoded_bytes_, n, decoded_bytes_) || decoded_bytes_ > limits_.max_metadata_bytes) {
      in_.fail_at(at, fmt::format("{}: metadata exceeds the limit of {} decoded bytes", what,
                                  limits_.max_metadata_bytes));
    }
  }

  void read_kv(uint64_t index) {
    const uint64_t at = in_.pos();
    std::string key = read_string(fmt::format("metadata key #{}", index));
    if (key.empty()) in_.fail_at(at, fmt::format("metadata key #{} is empty", index));
    if (impl_.key_index.count(key) != 0) {
      in_.fail_at(at, fmt::format("duplicate metadata key '{}'", key));
    }
    const std::string what = fmt::format("metadata key '{}'", key);
    const uint64_t type_at = in_.pos();
    const auto type = in_.read<uint32_t>(what + " type");
    if (!is_known_value_type(type)) {
      in_.fail_at(type_at, fmt::format("{}: unknown value type {}", what, type));
    }
    Value value = read_value(static_cast<ValueType>(type), 0, what);
    impl_.key_index.emplace(key, impl_.metadata.size());
    impl_.metadata.emplace_back(std::move(key), std::move(value));
  }

  Value read_value(ValueType type, uint32_t depth, const std::string& what, uint64_t item = kNoItem) {
    switch (type) {
      case ValueType::kUint8: return in_.read<uint8_t>(what);
      case ValueType::kInt8: return in_.read<int8_t>(what);
      case ValueType::kUint16: return in_.read<uint16_t>(what);
      case ValueType::kInt16: return in_.read<int16_t>(what);
      case ValueType::kUint32: return in_.read<uint32_t>(what);
      case ValueType::kInt32: return in_.read<int32_t>(what);
      case ValueType::kFloat32: return in_.read<float>(what);
      case ValueType::kUint64: return in_.read<uint64_t>(what);
      case ValueType::kInt64: return in_.read<int64_t>(what);
      case ValueType::kFloat64: return in_.read<double>(what);
      case ValueType::kBool: {
        const uint64_t at = in_.pos();
        const auto byte = in_.read<uint8_t>(what);
        if (byte > 1) in_.fail_at(at, fmt::format("{}: bool byte is {}, expected 0 or 1", what, byte));
        return byte == 1;
      }
      case ValueType::kString: return read_string(what, item);
      case ValueType::kArray: return read_array(depth, item == kNoItem ? what : label(what, item));
    }
    in_.fail(fmt::format("{}: unknown value type {}", what, static_cast<uint32_t>(type)));
  }

  Value read_array(uint32_t depth, const std::string& what) {
    const uint64_t at = in_.pos();
    if (depth >= limits_.max_array_depth) {
      in_.fail_at(at, fmt::format("{}: arrays nested deeper than the limit of {}", what,
                                  limits_.max_array_depth));
    }
    const auto element_type = in_.read<uint32_t>(what + " array element type");
    if (!is_known_value_type(element_type)) {
      in_.fail_at(at, fmt::format("{}: array of unknown value type {}", what, element_type));
    }
    const auto count = in_.read<uint64_t>(what + " array length");
    if (count > limits_.max_array_items) {
      in_.fail_at(at + 4, fmt::format("{}: array length {} exceeds the limit of {}", what, count,
                                      limits_.max_array_items));
    }
    Array array;
    array.element_type = static_cast<ValueType>(element_type);
    uint64_t min_bytes = 0;
    if (!checked_mul(count, min_encoded_bytes(array.element_type), min_bytes) || min_bytes > in_.remaining()) {
      in_.fail_at(at + 4, fmt::format("{}: array of {} {} items cannot fit in the {} bytes left", what, count,
                                      value_type_name(array.element_type), in_.remaining()));
    }
    uint64_t decoded = 0;
    if (!checked_mul(count, uint64_t{sizeof(Value)}, decoded)) decoded = UINT64_MAX;
    count_decoded(decoded, at, what);
    array.items.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      array.items.push_back(read_value(array.element_type, depth + 1, what, i));
    }
    return array;
  }

  void read_tensor_info(uint64_t index) {
    const uint64_t at = in_.pos();
    std::string name = read_string(fmt::format("tensor #{} name", index));
    if (name.empty()) in_.fail_at(at, fmt::format("tensor #{} has an empty name", index));
    if (impl_.tensor_index.count(name) != 0) in_.fail_at(at, fmt::format("duplicate tensor name '{}'", name));
    const std::string what = fmt::format("tensor '{}'", name);

    const uint64_t dims_at = in_.pos();
    const auto n_dims = in_.read<uint32_t>(what + " dimension count");
    if (n_dims == 0 || n_dims > limits_.max_dims) {
      in_.fail_at(dims_at, fmt::format("{} has {} dimensions (allowed: 1 to {})", what, n_dims, limits_.max_dims));
    }
    TensorInfo info;
    info.dims.reserve(n_dims);
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim_at = in_.pos();
      const auto dim = in_.read<uint64_t>(what + " dimensions");
      if (dim == 0) in_.fail_at(dim_at, fmt::format("{}: dimension {} is 0", what, d));
      if (!checked_mul(n_elements, dim, n_elements)) {
        in_.fail_at(dim_at, fmt::format("{}: element count overflows (dimension {} is {})", what, d, dim));
      }
      info.dims.push_back(dim);
    }

    const uint64_t type_at = in_.pos();
    const auto type_id = in_.read<uint32_t>(what + " type");
    const auto traits = dtype_traits(type_id);
    if (!traits) {
      in_.fail_at(type_at, fmt::format("{} has type {} (id {}), which Hearth does not support (supported: "
                                       "f32, f16, bf16, q8_0, q4_0, q4_K, q5_K, q6_K)",
                                       what, ggml_type_name(type_id), type_id));
    }
    if (traits->type == DType::Q8_K) {
      in_.fail_at(type_at, fmt::format("{} has type q8_K, which is for activations only and cannot be "
                                       "stored in a model file", what));
    }
    if (info.dims[0] % traits->block_elements != 0) {
      in_.fail_at(dims_at, fmt::format("{}: row length {} is not a whole number of {}-element {} blocks", what,
                                       info.dims[0], traits->block_elements, traits->name));
    }
    // n_bytes = blocks * block_bytes, checked (dtype.h's row_bytes() does not check for overflow).
    uint64_t n_bytes = 0;
    if (!checked_mul(n_elements / traits->block_elements, uint64_t{traits->block_bytes}, n_bytes)) {
      in_.fail_at(dims_at, fmt::format("{}: byte size overflows", what));
    }
    info.type = traits->type;
    info.n_elements = n_elements;
    info.n_bytes = n_bytes;
    info.offset = in_.read<uint64_t>(what + " offset");
    info.name = std::move(name);
    impl_.tensor_index.emplace(info.name, impl_.tensors.size());
    impl_.tensors.push_back(std::move(info));
  }

  GgufContents& impl_;
  const Limits& limits_;
  ByteReader in_;
  uint64_t tensor_count_ = 0;
  uint64_t kv_count_ = 0;
  uint64_t decoded_bytes_ = 0;
};

}  // namespace

void parse_gguf(GgufContents& impl, const Limits& limits) { Parser(impl, limits).parse(); }

}  // namespace hearth::gguf
