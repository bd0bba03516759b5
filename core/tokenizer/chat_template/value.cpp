#include "core/tokenizer/chat_template/value.h"

#include <charconv>
#include <cmath>

#include "core/common/error.h"

namespace hearth::chat_template {
namespace {

// Values can be cyclic (ns.self = ns); printing stops at this depth instead of overflowing the stack.
constexpr int kMaxPrintDepth = 128;

void check_depth(int depth) {
  if (depth > kMaxPrintDepth) throw Error("chat template: value nested too deeply to print");
}

std::string float_to_str(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string quote_python(const std::string& s) {
  const bool use_double = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = use_double ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    if (c == q || c == '\\') { out += '\\'; out += c; }
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else out += c;
  }
  out += q;
  return out;
}

std::string quote_json(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          static const char* hex = "0123456789abcdef";
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string repr_at(const Value& v, int depth);

std::string container_repr(const Value& v, int depth) {
  check_depth(depth);
  std::string out;
  if (v.is_list()) {
    out = "[";
    bool first = true;
    for (const Value& e : v.list()) {
      if (!first) out += ", ";
      first = false;
      out += repr_at(e, depth + 1);
    }
    return out + "]";
  }
  out = "{";
  bool first = true;
  for (const auto& [k, e] : v.dict()) {
    if (!first) out += ", ";
    first = false;
    out += quote_python(k) + ": " + repr_at(e, depth + 1);
  }
  return out + "}";
}

std::string repr_at(const Value& v, int depth) {
  if (v.is_string()) return quote_python(v.as_string());
  if (v.is_undefined()) return "Undefined";  // str() of a list holding an undefined, as Jinja prints it
  if (v.is_list() || v.is_dict()) return container_repr(v, depth);
  return v.to_str();
}

}  // namespace

Value* Value::find(const std::string& key) const {
  if (!is_dict()) return nullptr;
  for (auto& [k, v] : *dict_)
    if (k == key) return &v;
  return nullptr;
}

void Value::set(const std::string& key, Value v) const {
  if (Value* slot = find(key)) *slot = std::move(v);
  else dict_->emplace_back(key, std::move(v));
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool:
    case Kind::Int: return int_ != 0;
    case Kind::Float: return float_ != 0.0;
    case Kind::String: return !str_->empty();
    case Kind::List: return !list_->empty();
    case Kind::Dict: return !dict_->empty();
    case Kind::Function: return true;
  }
  return false;
}

std::string Value::to_str() const {
  switch (kind_) {
    case Kind::Undefined: return "";
    case Kind::None: return "None";
    case Kind::Bool: return int_ ? "True" : "False";
    case Kind::Int: return std::to_string(int_);
    case Kind::Float: return float_to_str(float_);
    case Kind::String: return *str_;
    case Kind::List:
    case Kind::Dict: return container_repr(*this, 0);
    case Kind::Function: return "<function>";
  }
  return "";
}

std::string Value::repr() const { return repr_at(*this, 0); }

std::string Value::to_json(int indent, int depth) const {
  check_depth(depth);
  const std::string nl = indent >= 0 ? "\n" + std::string(static_cast<size_t>(indent) * (depth + 1), ' ') : "";
  const std::string nl_end = indent >= 0 ? "\n" + std::string(static_cast<size_t>(indent) * depth, ' ') : "";
  const std::string item_sep = indent >= 0 ? "," : ", ";
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None: return "null";
    case Kind::Bool: return int_ ? "true" : "false";
    case Kind::Int: return std::to_string(int_);
    case Kind::Float: return std::isfinite(float_) ? float_to_str(float_) : (std::isnan(float_) ? "NaN" : (float_ > 0 ? "Infinity" : "-Infinity"));
    case Kind::String: return quote_json(*str_);
    case Kind::List: {
      if (list_->empty()) return "[]";
      std::string out = "[";
      for (size_t i = 0; i < list_->size(); ++i) {
        if (i) out += item_sep;
        out += nl + (*list_)[i].to_json(indent, depth + 1);
      }
      return out + nl_end + "]";
    }
    case Kind::Dict: {
      if (dict_->empty()) return "{}";
      std::string out = "{";
      for (size_t i = 0; i < dict_->size(); ++i) {
        if (i) out += item_sep;
        out += nl + quote_json((*dict_)[i].first) + ": " + (*dict_)[i].second.to_json(indent, depth + 1);
      }
      return out + nl_end + "}";
    }
    case Kind::Function: throw Error("chat template: a function is not JSON serializable");
  }
  return "null";
}

const char* Value::type_name() const {
  switch (kind_) {
    case Kind::Undefined: return "undefined";
    case Kind::None: return "none";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "string";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Function: return "function";
  }
  return "?";
}

bool values_equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_int() && b.is_int()) return a.as_int() == b.as_int();
    return a.as_number() == b.as_number();
  }
  if ((a.is_bool() && b.is_number()) || (a.is_number() && b.is_bool())) return a.as_number() == b.as_number();
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::Undefined:
    case Value::Kind::None: return true;
    case Value::Kind::Bool: return a.as_bool() == b.as_bool();
    case Value::Kind::String: return a.as_string() == b.as_string();
    case Value::Kind::List: {
      if (a.list().size() != b.list().size()) return false;
      for (size_t i = 0; i < a.list().size(); ++i)
        if (!values_equal(a.list()[i], b.list()[i])) return false;
      return true;
    }
    case Value::Kind::Dict: {
      if (a.dict().size() != b.dict().size()) return false;
      for (const auto& [k, v] : a.dict()) {
        const Value* o = b.find(k);
        if (!o || !values_equal(v, *o)) return false;
      }
      return true;
    }
    default: return false;
  }
}

}  // namespace hearth::chat_template
