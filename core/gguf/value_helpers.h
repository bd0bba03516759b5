#pragma once
// Internal helpers over metadata values shared by the validation and the typed getters.
#include <string>
#include <type_traits>
#include <variant>

#include <fmt/format.h>

#include "core/gguf/gguf_value.h"

namespace hearth::gguf {

inline bool is_integer_type(ValueType t) {
  switch (t) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kUint16: case ValueType::kInt16:
    case ValueType::kUint32: case ValueType::kInt32: case ValueType::kUint64: case ValueType::kInt64:
      return true;
    default:
      return false;
  }
}

// "uint32", "array of string".
inline std::string describe_type(const Value& v) {
  if (v.type() != ValueType::kArray) return std::string(value_type_name(v.type()));
  return fmt::format("array of {}", value_type_name(std::get<Array>(v.data).element_type));
}

// Any integer value as a signed 128-bit number, so no integer type loses range; 0 for others.
inline __int128 integer_value(const Value& v) {
  return std::visit(
      [](const auto& x) -> __int128 {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          return static_cast<__int128>(x);
        } else {
          return 0;
        }
      },
      v.data);
}

// Any integer or float value as a double.
inline double number_value(const Value& v) {
  if (const auto* f = std::get_if<float>(&v.data)) return *f;
  if (const auto* d = std::get_if<double>(&v.data)) return *d;
  return static_cast<double>(integer_value(v));
}

}  // namespace hearth::gguf
