#pragma once
// The library of a template: filters (x|trim), tests (x is string), and methods of values
// (s.strip(), d.items()). They follow Python / Jinja2 semantics on the shapes chat templates use.
// Errors are thrown as BuiltinError (a message without position); the renderer adds line:column.
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/tokenizer/chat_template/chat_template.h"
#include "core/tokenizer/chat_template/value.h"

namespace hearth::chat_template {

class BuiltinError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

Value apply_filter(const std::string& name, const Value& operand, const CallArgs& args, size_t max_string_bytes,
                   TemplateDialect dialect = TemplateDialect::kHuggingFaceJs);
bool apply_test(const std::string& name, const Value& operand, const CallArgs& args);
// obj.name: a bound method for the known methods of strings and dicts, else the dict entry, else undefined.
Value get_attribute(const Value& obj, const std::string& name, size_t max_string_bytes,
                    TemplateDialect dialect = TemplateDialect::kHuggingFaceJs);
// obj[index] for lists, strings (by code point) and dicts; undefined when absent.
Value get_item(const Value& obj, const Value& index);
// obj[start:stop:step] with Python's rules; absent parts are undefined values.
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
// The elements a for loop visits: list items, dict keys, string code points.
ValueList iterate(const Value& v);
// Code points of UTF-8 text (an invalid byte counts as one).
std::vector<std::string_view> split_code_points(std::string_view s);

}  // namespace hearth::chat_template
