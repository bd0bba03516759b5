#pragma once
// Value: the dynamic type of the chat-template language (a Jinja subset). Shapes follow Python as
// Jinja sees it: undefined, none, bool, int (int64), float (double), str, list, dict (insertion
// ordered), and callables (macros and builtins). Lists and dicts are shared by reference, so
// `namespace()` objects and `ns.x = ...` behave as in Jinja.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace hearth::chat_template {

class Value;
using ValueList = std::vector<Value>;
using ValueDict = std::vector<std::pair<std::string, Value>>;  // small, ordered, linear lookup

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};
using Callable = std::function<Value(const CallArgs&)>;

class Value {
 public:
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Function };

  Value() = default;  // undefined
  static Value none() { Value v; v.kind_ = Kind::None; return v; }
  Value(bool b) : kind_(Kind::Bool), int_(b) {}
  Value(int i) : kind_(Kind::Int), int_(i) {}
  Value(int64_t i) : kind_(Kind::Int), int_(i) {}
  Value(double d) : kind_(Kind::Float), float_(d) {}
  Value(std::string s) : kind_(Kind::String), str_(std::make_shared<std::string>(std::move(s))) {}
  Value(const char* s) : Value(std::string(s)) {}
  Value(ValueList l) : kind_(Kind::List), list_(std::make_shared<ValueList>(std::move(l))) {}
  Value(ValueDict d) : kind_(Kind::Dict), dict_(std::make_shared<ValueDict>(std::move(d))) {}
  Value(Callable f) : kind_(Kind::Function), fn_(std::make_shared<Callable>(std::move(f))) {}

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_float() const { return kind_ == Kind::Float; }
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_list() const { return kind_ == Kind::List; }
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_function() const { return kind_ == Kind::Function; }

  bool as_bool() const { return int_ != 0; }
  int64_t as_int() const { return int_; }
  double as_number() const { return kind_ == Kind::Float ? float_ : static_cast<double>(int_); }
  const std::string& as_string() const { return *str_; }
  ValueList& list() const { return *list_; }
  ValueDict& dict() const { return *dict_; }
  const Callable& function() const { return *fn_; }

  // Dict lookup; nullptr when absent (or not a dict).
  Value* find(const std::string& key) const;
  void set(const std::string& key, Value v) const;

  // The shared container behind a list or dict (nullptr otherwise): equal for aliases.
  const void* identity() const { return list_ ? static_cast<const void*>(list_.get()) : static_cast<const void*>(dict_.get()); }

  bool truthy() const;
  // str(value) as Python prints it ("True", "None", "['a', 1]"); undefined prints as "".
  std::string to_str() const;
  // repr(value) as Python prints it (strings quoted).
  std::string repr() const;
  // json.dumps(value, ensure_ascii=False) with Python's default separators or an indent.
  std::string to_json(int indent = -1, int depth = 0) const;
  const char* type_name() const;

 private:
  Kind kind_ = Kind::Undefined;
  int64_t int_ = 0;
  double float_ = 0;
  std::shared_ptr<std::string> str_;
  std::shared_ptr<ValueList> list_;
  std::shared_ptr<ValueDict> dict_;
  std::shared_ptr<Callable> fn_;
};

bool values_equal(const Value& a, const Value& b);

}  // namespace hearth::chat_template
