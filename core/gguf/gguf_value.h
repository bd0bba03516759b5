#pragma once
// Metadata values of a GGUF file: the 13 scalar/string/array types of the format. An array holds
// values of one element type, which may itself be an array (nested arrays).
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hearth::gguf {

enum class ValueType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5, kFloat32 = 6,
  kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};

std::string_view value_type_name(ValueType t);

struct Value;

struct Array {
  ValueType element_type = ValueType::kUint8;
  std::vector<Value> items;
};

// The variant's index equals the ValueType number, so value.type() is cheap and exact.
struct Value {
  using Storage = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool,
                               std::string, Array, uint64_t, int64_t, double>;
  Storage data;

  Value() = default;
  template <typename T>
  Value(T v) : data(std::move(v)) {}  // NOLINT: implicit from any stored type
  Value(const char* s) : data(std::string(s)) {}

  ValueType type() const { return static_cast<ValueType>(data.index()); }
  bool is_integer() const;  // any of the 8 integer types
  bool is_float() const;    // float32 or float64
};

}  // namespace hearth::gguf
