// Names and classification of GGUF metadata value types.
#include "core/gguf/gguf_value.h"

#include "core/gguf/value_helpers.h"

namespace hearth::gguf {

std::string_view value_type_name(ValueType t) {
  switch (t) {
    case ValueType::kUint8: return "uint8";
    case ValueType::kInt8: return "int8";
    case ValueType::kUint16: return "uint16";
    case ValueType::kInt16: return "int16";
    case ValueType::kUint32: return "uint32";
    case ValueType::kInt32: return "int32";
    case ValueType::kFloat32: return "float32";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "string";
    case ValueType::kArray: return "array";
    case ValueType::kUint64: return "uint64";
    case ValueType::kInt64: return "int64";
    case ValueType::kFloat64: return "float64";
  }
  return "unknown";
}

bool Value::is_integer() const { return is_integer_type(type()); }

bool Value::is_float() const {
  return type() == ValueType::kFloat32 || type() == ValueType::kFloat64;
}

}  // namespace hearth::gguf
