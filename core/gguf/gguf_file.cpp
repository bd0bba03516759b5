// GgufFile: opening (mmap or in-memory bytes) and the accessors and typed getters over a parsed
// file. Parsing and validation live in gguf_reader.cpp, gguf_known_keys.cpp, gguf_tensor_layout.cpp.
#include <limits>

#include <fmt/format.h>

#include "core/common/error.h"
#include "core/common/checked_math.h"
#include "core/gguf/gguf_file_impl.h"
#include "core/gguf/value_helpers.h"

namespace hearth::gguf {
namespace {

// Converts metadata values, naming the key (and array item) when the value does not fit.
class Converter {
 public:
  Converter(const std::string& source, std::string_view key) : source_(source), key_(key) {}

  [[noreturn]] void fail(std::string_view message) const {
    throw FormatError(fmt::format("{}: metadata key '{}' {}", source_, key_, message));
  }

  uint64_t to_uint(const Value& v) const {
    if (!v.is_integer()) fail(fmt::format("has type {}, expected an unsigned integer", describe_type(v)));
    const __int128 x = integer_value(v);
    if (x < 0) fail(fmt::format("is {}, expected a non-negative integer", static_cast<int64_t>(x)));
    return static_cast<uint64_t>(x);
  }

  int64_t to_int(const Value& v) const {
    if (!v.is_integer()) fail(fmt::format("has type {}, expected an integer", describe_type(v)));
    const __int128 x = integer_value(v);
    if (x > std::numeric_limits<int64_t>::max()) fail(fmt::format("is {}, too large for int64", static_cast<uint64_t>(x)));
    return static_cast<int64_t>(x);
  }

  double to_float(const Value& v) const {
    if (!v.is_integer() && !v.is_float()) fail(fmt::format("has type {}, expected a number", describe_type(v)));
    return number_value(v);
  }

  const Array& to_array(const Value& v, bool (*element_ok)(ValueType), std::string_view expected) const {
    const Array* array = std::get_if<Array>(&v.data);
    if (array == nullptr || !element_ok(array->element_type)) {
      fail(fmt::format("has type {}, expected an array of {}", describe_type(v), expected));
    }
    return *array;
  }

 private:
  const std::string& source_;
  std::string_view key_;
};

bool is_number_type(ValueType t) {
  return is_integer_type(t) || t == ValueType::kFloat32 || t == ValueType::kFloat64;
}
bool is_string_type(ValueType t) { return t == ValueType::kString; }

}  // namespace

struct GgufFile::Impl : GgufContents {};

GgufFile::GgufFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

GgufFile GgufFile::open(const std::filesystem::path& path, const Limits& limits) {
  auto impl = std::make_unique<Impl>();
  impl->source = path.string();
  impl->mapping.emplace(path);
  impl->bytes = impl->mapping->bytes();
  parse_gguf(*impl, limits);
  return GgufFile(std::move(impl));
}

GgufFile GgufFile::from_bytes(std::vector<uint8_t> bytes, const Limits& limits) {
  auto impl = std::make_unique<Impl>();
  impl->source = "GGUF data";
  impl->owned = std::move(bytes);
  impl->bytes = impl->owned;
  parse_gguf(*impl, limits);
  return GgufFile(std::move(impl));
}

uint32_t GgufFile::version() const { return impl_->version; }
uint64_t GgufFile::alignment() const { return impl_->alignment; }
uint64_t GgufFile::file_size() const { return impl_->bytes.size(); }
uint64_t GgufFile::data_offset() const { return impl_->data_offset; }

const std::vector<std::pair<std::string, Value>>& GgufFile::metadata() const { return impl_->metadata; }
const Value* GgufFile::find(std::string_view key) const { return impl_->find(key); }

std::optional<uint64_t> GgufFile::get_uint(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return std::nullopt;
  return Converter(impl_->source, key).to_uint(*v);
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return std::nullopt;
  return Converter(impl_->source, key).to_int(*v);
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return std::nullopt;
  return Converter(impl_->source, key).to_float(*v);
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (const bool* b = std::get_if<bool>(&v->data)) return *b;
  Converter(impl_->source, key).fail(fmt::format("has type {}, expected bool", describe_type(*v)));
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (const auto* s = std::get_if<std::string>(&v->data)) return *s;
  Converter(impl_->source, key).fail(fmt::format("has type {}, expected string", describe_type(*v)));
}

std::optional<std::vector<std::string>> GgufFile::get_string_array(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return std::nullopt;
  const Array& array = Converter(impl_->source, key).to_array(*v, is_string_type, "string");
  std::vector<std::string> out;
  out.reserve(array.items.size());
  for (const Value& item : array.items) out.push_back(std::get<std::string>(item.data));
  return out;
}

std::optional<std::vector<float>> GgufFile::get_float_array(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return std::nullopt;
  const Array& array = Converter(impl_->source, key).to_array(*v, is_number_type, "numbers");
  std::vector<float> out;
  out.reserve(array.items.size());
  for (const Value& item : array.items) out.push_back(static_cast<float>(number_value(item)));
  return out;
}

std::optional<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return std::nullopt;
  const Converter convert(impl_->source, key);
  const Array& array = convert.to_array(*v, is_integer_type, "integers");
  std::vector<int64_t> out;
  out.reserve(array.items.size());
  for (const Value& item : array.items) out.push_back(convert.to_int(item));
  return out;
}

const std::vector<TensorInfo>& GgufFile::tensors() const { return impl_->tensors; }

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = impl_->tensor_index.find(name);
  return it == impl_->tensor_index.end() ? nullptr : &impl_->tensors[it->second];
}

std::span<const uint8_t> GgufFile::tensor_data(const TensorInfo& t) const {
  // Tensors of this file were checked at open; a TensorInfo from elsewhere is checked here.
  uint64_t start = 0, end = 0;
  if (!checked_add(impl_->data_offset, t.offset, start) || !checked_add(start, t.n_bytes, end) ||
      end > impl_->bytes.size()) {
    throw Error(fmt::format("{}: tensor '{}' data lies outside the file", impl_->source, t.name));
  }
  return impl_->bytes.subspan(static_cast<size_t>(start), static_cast<size_t>(t.n_bytes));
}

}  // namespace hearth::gguf
