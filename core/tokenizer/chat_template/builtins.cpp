#include "core/tokenizer/chat_template/builtins.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <cerrno>
#include <optional>

namespace hearth::chat_template {
namespace {

const char* const kWhitespace = " \t\n\r\f\v";

// Positional argument i, or keyword `name`, or undefined.
Value arg(const CallArgs& args, size_t i, const char* name) {
  for (const auto& [k, v] : args.keyword)
    if (k == name) return v;
  return i < args.positional.size() ? args.positional[i] : Value();
}

const std::string& need_string(const Value& v, const char* what) {
  if (!v.is_string()) throw BuiltinError(std::string(what) + " expects a string, got " + v.type_name());
  return v.as_string();
}

void check_size(size_t n, size_t max_bytes) {
  if (n > max_bytes) throw BuiltinError("string longer than the output limit");
}

// The code point at s[i] and its length in bytes; an invalid byte stands for itself (length 1).
uint32_t code_point_at(const std::string& s, size_t i, size_t* len) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = b(i);
  const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n <= 1 || i + n > s.size()) {
    *len = 1;
    return c;
  }
  uint32_t cp = c & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) {
      *len = 1;
      return c;
    }
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  *len = n;
  return cp;
}

// Python's str.isspace(): what str.strip() and Jinja's |trim remove.
bool is_python_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// JavaScript's String.prototype.trim() set (WhiteSpace and LineTerminator).
bool is_js_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

// str.strip / lstrip / rstrip and |trim, by code point. `chars` (a string) is the set to remove;
// otherwise whitespace. @huggingface/jinja ignores `chars` (see TemplateDialect).
std::string strip(const std::string& s, const Value& chars, bool left, bool right,
                  TemplateDialect dialect = TemplateDialect::kPython) {
  std::vector<uint32_t> set;
  const bool use_set = dialect == TemplateDialect::kPython && chars.is_string();
  if (use_set) {
    const std::string& c = chars.as_string();
    for (size_t i = 0, n = 0; i < c.size(); i += n) set.push_back(code_point_at(c, i, &n));
  }
  auto removable = [&](uint32_t cp) {
    if (use_set) return std::find(set.begin(), set.end(), cp) != set.end();
    return dialect == TemplateDialect::kPython ? is_python_space(cp) : is_js_space(cp);
  };
  // Code point boundaries, so a right strip never splits a multi-byte sequence.
  std::vector<std::pair<size_t, uint32_t>> cps;  // (offset, code point)
  for (size_t i = 0, n = 0; i < s.size(); i += n) cps.emplace_back(i, code_point_at(s, i, &n));
  size_t b = 0, e = cps.size();
  if (left) while (b < e && removable(cps[b].second)) ++b;
  if (right) while (e > b && removable(cps[e - 1].second)) --e;
  const size_t from = b < cps.size() ? cps[b].first : s.size();
  const size_t to = e < cps.size() ? cps[e].first : s.size();
  return s.substr(from, to - from);
}

ValueList split(const std::string& s, const Value& sep, const Value& maxsplit_v) {
  int64_t maxsplit = maxsplit_v.is_int() ? maxsplit_v.as_int() : -1;
  ValueList out;
  if (!sep.is_string() || sep.is_none()) {
    size_t i = 0;
    while (true) {
      while (i < s.size() && std::strchr(kWhitespace, s[i]) && s[i]) ++i;
      if (i >= s.size()) break;
      if (maxsplit == 0) {
        std::string rest = s.substr(i);
        out.emplace_back(strip(rest, Value(), false, true));
        break;
      }
      size_t e = i;
      while (e < s.size() && !(std::strchr(kWhitespace, s[e]) && s[e])) ++e;
      out.emplace_back(s.substr(i, e - i));
      --maxsplit;
      i = e;
    }
    return out;
  }
  const std::string& d = sep.as_string();
  if (d.empty()) throw BuiltinError("split: empty separator");
  size_t start = 0;
  while (maxsplit != 0) {
    const size_t p = s.find(d, start);
    if (p == std::string::npos) break;
    out.emplace_back(s.substr(start, p - start));
    start = p + d.size();
    --maxsplit;
  }
  out.emplace_back(s.substr(start));
  return out;
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to, int64_t count,
                        size_t max_bytes) {
  std::string out;
  if (from.empty()) {  // Python inserts `to` around every character
    auto cps = split_code_points(s);
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (count < 0 || static_cast<int64_t>(i) < count) out += to;
      if (i < cps.size()) out += cps[i];
      check_size(out.size(), max_bytes);
    }
    return out;
  }
  size_t start = 0;
  while (count != 0) {
    const size_t p = s.find(from, start);
    if (p == std::string::npos) break;
    out.append(s, start, p - start);
    out += to;
    check_size(out.size(), max_bytes);
    start = p + from.size();
    --count;
  }
  out.append(s, start);
  return out;
}

// str.title(): a letter after a non-letter starts a word (ASCII case mapping).
std::string title_method(const std::string& s) {
  std::string out = s;
  bool start = true;
  for (char& c : out) {
    const unsigned char u = static_cast<unsigned char>(c);
    const bool letter = std::isalpha(u) != 0;
    if (letter) c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
    start = !letter;
  }
  return out;
}

// Jinja's |title: words begin after runs of '-', whitespace, '(', '{', '[', '<'; each word gets
// its first character upper-cased and the rest lower-cased.
std::string title_filter(const std::string& s) {
  std::string out = s;
  bool start = true;
  for (char& c : out) {
    const unsigned char u = static_cast<unsigned char>(c);
    const bool separator = std::strchr("-({[<", c) != nullptr || std::isspace(u);
    if (separator) {
      start = true;
      continue;
    }
    c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
    start = false;
  }
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool starts_or_ends(const std::string& s, const Value& what, bool starts) {
  auto one = [&](const Value& v) {
    const std::string& p = need_string(v, starts ? "startswith" : "endswith");
    if (p.size() > s.size()) return false;
    return starts ? s.compare(0, p.size(), p) == 0 : s.compare(s.size() - p.size(), p.size(), p) == 0;
  };
  if (what.is_list()) {
    for (const Value& v : what.list())
      if (one(v)) return true;
    return false;
  }
  return one(what);
}

int64_t length_of(const Value& v) {
  if (v.is_string()) return static_cast<int64_t>(split_code_points(v.as_string()).size());
  if (v.is_list()) return static_cast<int64_t>(v.list().size());
  if (v.is_dict()) return static_cast<int64_t>(v.dict().size());
  if (v.is_undefined()) return 0;
  throw BuiltinError(std::string("object of type ") + v.type_name() + " has no length");
}

Value sort_keys_deep(const Value& v, int depth) {
  if (depth > 128) throw BuiltinError("value nested too deeply");
  if (v.is_list()) {
    ValueList out;
    for (const Value& e : v.list()) out.push_back(sort_keys_deep(e, depth + 1));
    return Value(std::move(out));
  }
  if (v.is_dict()) {
    ValueDict out;
    for (const auto& [k, e] : v.dict()) out.emplace_back(k, sort_keys_deep(e, depth + 1));
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    return Value(std::move(out));
  }
  return v;
}

Value attribute_path(const Value& v, const Value& path) {
  if (!path.is_string()) return v;
  Value cur = v;
  for (const Value& part : split(path.as_string(), Value("."), Value())) {
    const std::string& key = part.as_string();
    const bool numeric = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    cur = numeric && cur.is_list() ? get_item(cur, Value(static_cast<int64_t>(std::atoll(key.c_str())))) : get_item(cur, Value(key));
  }
  return cur;
}

int compare_for_sort(const Value& a, const Value& b, int depth = 0) {
  if (depth > 128) throw BuiltinError("value nested too deeply to compare");
  const auto numeric = [](const Value& x) { return x.is_number() || x.is_bool(); };
  if (numeric(a) && numeric(b)) return a.as_number() < b.as_number() ? -1 : (a.as_number() > b.as_number() ? 1 : 0);
  if (a.is_string() && b.is_string()) return a.as_string().compare(b.as_string());
  if (a.is_list() && b.is_list()) {  // lexicographic, as Python
    const size_t n = std::min(a.list().size(), b.list().size());
    for (size_t i = 0; i < n; ++i) {
      if (values_equal(a.list()[i], b.list()[i])) continue;
      return compare_for_sort(a.list()[i], b.list()[i], depth + 1);
    }
    return a.list().size() < b.list().size() ? -1 : (a.list().size() > b.list().size() ? 1 : 0);
  }
  throw BuiltinError(std::string("cannot order ") + a.type_name() + " and " + b.type_name());
}

Value select_like(const Value& seq, const CallArgs& args, bool by_attribute, bool keep_matching) {
  ValueList out;
  const size_t test_at = by_attribute ? 1 : 0;
  CallArgs test_args;
  for (size_t i = test_at + 1; i < args.positional.size(); ++i) test_args.positional.push_back(args.positional[i]);
  const Value test = test_at < args.positional.size() ? args.positional[test_at] : Value();
  for (const Value& item : iterate(seq)) {
    const Value subject = by_attribute ? attribute_path(item, arg(args, 0, "attribute")) : item;
    const bool ok = test.is_string() ? apply_test(test.as_string(), subject, test_args) : subject.truthy();
    if (ok == keep_matching) out.push_back(item);
  }
  return Value(std::move(out));
}

}  // namespace

std::vector<std::string_view> split_code_points(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (i + n > s.size()) n = 1;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) { n = 1; break; }
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

ValueList iterate(const Value& v) {
  if (v.is_list()) return v.list();
  if (v.is_dict()) {
    ValueList keys;
    for (const auto& [k, e] : v.dict()) keys.emplace_back(k);
    return keys;
  }
  if (v.is_string()) {
    ValueList chars;
    for (std::string_view cp : split_code_points(v.as_string())) chars.emplace_back(std::string(cp));
    return chars;
  }
  if (v.is_undefined() || v.is_none()) return {};
  throw BuiltinError(std::string("object of type ") + v.type_name() + " is not iterable");
}

Value get_item(const Value& obj, const Value& index) {
  if (obj.is_dict()) {
    if (!index.is_string()) return Value();
    const Value* found = obj.find(index.as_string());
    return found ? *found : Value();
  }
  if (obj.is_list() || obj.is_string()) {
    if (!index.is_int() && !index.is_bool()) {
      if (index.is_string()) return Value();  // list.attr → undefined, as Jinja
      throw BuiltinError("indices must be integers");
    }
    ValueList items;
    std::vector<std::string_view> cps;
    int64_t n;
    if (obj.is_list()) n = static_cast<int64_t>(obj.list().size());
    else { cps = split_code_points(obj.as_string()); n = static_cast<int64_t>(cps.size()); }
    int64_t i = index.as_int();
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value();
    return obj.is_list() ? obj.list()[static_cast<size_t>(i)] : Value(std::string(cps[static_cast<size_t>(i)]));
  }
  return Value();
}

Value get_slice(const Value& obj, const Value& start_v, const Value& stop_v, const Value& step_v) {
  auto as_opt_int = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    if (!v.is_int()) throw BuiltinError(std::string("slice ") + what + " must be an integer");
    return v.as_int();
  };
  const auto start_o = as_opt_int(start_v, "start");
  const auto stop_o = as_opt_int(stop_v, "stop");
  const int64_t step = as_opt_int(step_v, "step").value_or(1);
  if (step == 0) throw BuiltinError("slice step cannot be zero");
  std::vector<std::string_view> cps;
  int64_t n;
  if (obj.is_list()) n = static_cast<int64_t>(obj.list().size());
  else if (obj.is_string()) { cps = split_code_points(obj.as_string()); n = static_cast<int64_t>(cps.size()); }
  else if (obj.is_undefined()) return Value();
  else throw BuiltinError(std::string("cannot slice ") + obj.type_name());
  auto clamp = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v;
    if (x < 0) x += n;
    if (step > 0) return std::clamp<int64_t>(x, 0, n);
    return std::clamp<int64_t>(x, -1, n - 1);
  };
  const int64_t start = clamp(start_o, step > 0 ? 0 : n - 1);
  const int64_t stop = clamp(stop_o, step > 0 ? n : -1);
  ValueList items;
  std::string text;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (obj.is_list()) items.push_back(obj.list()[static_cast<size_t>(i)]);
    else text += cps[static_cast<size_t>(i)];
  }
  return obj.is_list() ? Value(std::move(items)) : Value(std::move(text));
}

bool apply_test(const std::string& name, const Value& v, const CallArgs& args) {
  const Value a = arg(args, 0, "value");
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number() || v.is_bool();  // Python's bool is an int
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "mapping") return v.is_dict();
  // Jinja's Undefined iterates as empty, so it counts as iterable and as a sequence.
  if (name == "sequence" || name == "iterable") return v.is_list() || v.is_string() || v.is_dict() || v.is_undefined();
  if (name == "callable") return v.is_function();
  if (name == "even" || name == "odd") {
    if (!v.is_int()) throw BuiltinError("test '" + name + "' expects an integer");
    return (v.as_int() % 2 == 0) == (name == "even");
  }
  if (name == "divisibleby") {
    if (!v.is_int() || !a.is_int() || a.as_int() == 0) throw BuiltinError("divisibleby expects non-zero integers");
    return v.as_int() % a.as_int() == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") return values_equal(v, a);
  if (name == "ne" || name == "!=") return !values_equal(v, a);
  if (name == "lt" || name == "gt" || name == "le" || name == "ge") {
    const int c = compare_for_sort(v, a);
    return name == "lt" ? c < 0 : name == "gt" ? c > 0 : name == "le" ? c <= 0 : c >= 0;
  }
  if (name == "in") {
    if (a.is_string() && v.is_string()) return a.as_string().find(v.as_string()) != std::string::npos;
    for (const Value& e : iterate(a))
      if (values_equal(e, v)) return true;
    return false;
  }
  if (name == "lower") return v.is_string() && lower(v.as_string()) == v.as_string();
  if (name == "upper") return v.is_string() && upper(v.as_string()) == v.as_string();
  if (name == "sameas") return values_equal(v, a) && v.kind() == a.kind();
  throw BuiltinError("unknown test '" + name + "'");
}

Value apply_filter(const std::string& name, const Value& v, const CallArgs& args, size_t max_bytes, TemplateDialect dialect) {
  if (name == "trim") return Value(strip(v.to_str(), arg(args, 0, "chars"), true, true, dialect));
  if (name == "length" || name == "count") return Value(length_of(v));
  if (name == "upper") return Value(upper(v.to_str()));
  if (name == "lower") return Value(lower(v.to_str()));
  if (name == "title") return Value(title_filter(v.to_str()));
  if (name == "capitalize") {
    std::string s = lower(v.to_str());
    if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
    return Value(std::move(s));
  }
  if (name == "string") return v.is_string() ? v : Value(v.to_str());
  if (name == "safe" || name == "e" || name == "escape" ) {
    if (name == "safe") return v;
    throw BuiltinError("filter 'escape' is not supported");
  }
  if (name == "tojson") {
    const Value indent = arg(args, 0, "indent");
    const Value sorted = arg(args, 99, "sort_keys");
    const Value subject = sorted.truthy() ? sort_keys_deep(v, 0) : v;
    std::string out = subject.to_json(indent.is_int() ? static_cast<int>(std::clamp<int64_t>(indent.as_int(), 0, 64)) : -1);
    check_size(out.size(), max_bytes);
    return Value(std::move(out));
  }
  if (name == "default" || name == "d") {
    const bool boolean = arg(args, 1, "boolean").truthy();
    if (v.is_undefined() || (boolean && !v.truthy())) {
      const Value d = arg(args, 0, "default_value");
      return d.is_undefined() ? Value(std::string()) : d;
    }
    return v;
  }
  if (name == "join") {
    const Value sep = arg(args, 0, "d");
    const Value attribute = arg(args, 1, "attribute");
    std::string out;
    bool first = true;
    for (const Value& e : iterate(v)) {
      if (!first) out += sep.is_undefined() ? "" : sep.to_str();
      first = false;
      out += attribute_path(e, attribute).to_str();
      check_size(out.size(), max_bytes);
    }
    return Value(std::move(out));
  }
  if (name == "first" || name == "last") {
    const ValueList items = iterate(v);
    if (items.empty()) return Value();
    return name == "first" ? items.front() : items.back();
  }
  if (name == "replace") {
    const Value count = arg(args, 2, "count");
    return Value(replace_all(v.to_str(), need_string(arg(args, 0, "old"), "replace"),
                             need_string(arg(args, 1, "new"), "replace"), count.is_int() ? count.as_int() : -1,
                             max_bytes));
  }
  if (name == "int") {
    if (v.is_int()) return v;
    if (v.is_float()) return std::isfinite(v.as_number()) && std::fabs(v.as_number()) < 9e18 ? Value(static_cast<int64_t>(v.as_number())) : Value(0);
    if (v.is_bool()) return Value(static_cast<int64_t>(v.as_bool()));
    if (v.is_string()) {
      const std::string s = strip(v.as_string(), Value(), true, true);
      char* end = nullptr;
      errno = 0;
      const long long x = std::strtoll(s.c_str(), &end, 10);
      if (!s.empty() && end == s.c_str() + s.size() && errno == 0) return Value(static_cast<int64_t>(x));
      const double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && end == s.c_str() + s.size() && std::isfinite(d) && std::fabs(d) < 9e18) return Value(static_cast<int64_t>(d));
    }
    const Value d = arg(args, 0, "default");
    return d.is_undefined() ? Value(0) : d;
  }
  if (name == "float") {
    if (v.is_number() || v.is_bool()) return Value(v.as_number());
    if (v.is_string()) {
      const std::string s = strip(v.as_string(), Value(), true, true);
      char* end = nullptr;
      const double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && end == s.c_str() + s.size()) return Value(d);
    }
    const Value d = arg(args, 0, "default");
    return d.is_undefined() ? Value(0.0) : d;
  }
  if (name == "abs") {
    if (v.is_int()) {
      if (v.as_int() == INT64_MIN) throw BuiltinError("integer overflow");
      return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
    }
    if (v.is_float()) return Value(std::fabs(v.as_number()));
    throw BuiltinError("abs expects a number");
  }
  if (name == "list") return Value(iterate(v));
  if (name == "items") {
    if (v.is_undefined()) return Value(ValueList{});
    if (!v.is_dict()) throw BuiltinError("items expects a mapping");
    ValueList out;
    for (const auto& [k, e] : v.dict()) out.emplace_back(ValueList{Value(k), e});
    return Value(std::move(out));
  }
  if (name == "reverse") {
    if (v.is_string()) return get_slice(v, Value(), Value(), Value(-1));
    ValueList items = iterate(v);
    std::reverse(items.begin(), items.end());
    return Value(std::move(items));
  }
  if (name == "unique") {
    ValueList out;
    for (const Value& e : iterate(v)) {
      bool seen = false;
      for (const Value& o : out) seen = seen || values_equal(o, e);
      if (!seen) out.push_back(e);
    }
    return Value(std::move(out));
  }
  if (name == "sort") {
    ValueList items = iterate(v);
    const bool reverse = arg(args, 0, "reverse").truthy();
    const Value attribute = arg(args, 2, "attribute");
    std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
      const int c = compare_for_sort(attribute_path(a, attribute), attribute_path(b, attribute));
      return reverse ? c > 0 : c < 0;
    });
    return Value(std::move(items));
  }
  if (name == "selectattr" || name == "rejectattr") return select_like(v, args, true, name == "selectattr");
  if (name == "select" || name == "reject") return select_like(v, args, false, name == "select");
  if (name == "map") {
    ValueList out;
    const Value attribute = arg(args, 99, "attribute");
    if (attribute.is_string()) {
      const Value dflt = arg(args, 99, "default");
      for (const Value& e : iterate(v)) {
        Value x = attribute_path(e, attribute);
        out.push_back(x.is_undefined() && !dflt.is_undefined() ? dflt : x);
      }
    } else if (!args.positional.empty() && args.positional[0].is_string()) {
      CallArgs rest;
      rest.positional.assign(args.positional.begin() + 1, args.positional.end());
      for (const Value& e : iterate(v)) out.push_back(apply_filter(args.positional[0].as_string(), e, rest, max_bytes, dialect));
    } else {
      throw BuiltinError("map expects a filter name or attribute=");
    }
    return Value(std::move(out));
  }
  if (name == "indent") {
    const Value width_v = arg(args, 0, "width");
    const std::string pad = width_v.is_string() ? width_v.as_string() : std::string(static_cast<size_t>(std::clamp<int64_t>(width_v.is_int() ? width_v.as_int() : 4, 0, 256)), ' ');
    const bool first = arg(args, 1, "first").truthy();
    const bool blank = arg(args, 2, "blank").truthy();
    const ValueList lines = split(v.to_str(), Value("\n"), Value());
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) {
      const std::string& line = lines[i].as_string();
      if (i) out += '\n';
      if ((i > 0 || first) && (blank || !line.empty())) out += pad;
      out += line;
      check_size(out.size(), max_bytes);
    }
    return Value(std::move(out));
  }
  if (name == "round") {
    if (!v.is_number()) throw BuiltinError("round expects a number");
    const Value precision = arg(args, 0, "precision");
    const double scale = std::pow(10.0, precision.is_int() ? static_cast<double>(std::clamp<int64_t>(precision.as_int(), -300, 300)) : 0.0);
    return Value(std::round(v.as_number() * scale) / scale);
  }
  if (name == "wordcount") return Value(static_cast<int64_t>(split(v.to_str(), Value(), Value()).size()));
  throw BuiltinError("unknown filter '" + name + "'");
}

Value get_attribute(const Value& obj, const std::string& name, size_t max_bytes, TemplateDialect dialect) {
  if (obj.is_string()) {
    const std::string s = obj.as_string();
    auto method = [&](auto fn) { return Value(Callable([s, fn](const CallArgs& a) { return fn(s, a); })); };
    if (name == "strip") return method([dialect](const std::string& t, const CallArgs& a) { return Value(strip(t, arg(a, 0, "chars"), true, true, dialect)); });
    if (name == "lstrip") return method([dialect](const std::string& t, const CallArgs& a) { return Value(strip(t, arg(a, 0, "chars"), true, false, dialect)); });
    if (name == "rstrip") return method([dialect](const std::string& t, const CallArgs& a) { return Value(strip(t, arg(a, 0, "chars"), false, true, dialect)); });
    if (name == "split") return method([](const std::string& t, const CallArgs& a) { return Value(split(t, arg(a, 0, "sep"), arg(a, 1, "maxsplit"))); });
    if (name == "startswith") return method([](const std::string& t, const CallArgs& a) { return Value(starts_or_ends(t, arg(a, 0, "prefix"), true)); });
    if (name == "endswith") return method([](const std::string& t, const CallArgs& a) { return Value(starts_or_ends(t, arg(a, 0, "suffix"), false)); });
    if (name == "upper") return method([](const std::string& t, const CallArgs&) { return Value(upper(t)); });
    if (name == "lower") return method([](const std::string& t, const CallArgs&) { return Value(lower(t)); });
    if (name == "title") return method([](const std::string& t, const CallArgs&) { return Value(title_method(t)); });
    if (name == "capitalize") return method([max_bytes](const std::string& t, const CallArgs& a) { return apply_filter("capitalize", Value(t), a, max_bytes); });
    if (name == "replace")
      return method([max_bytes](const std::string& t, const CallArgs& a) {
        const Value count = arg(a, 2, "count");
        return Value(replace_all(t, need_string(arg(a, 0, "old"), "replace"), need_string(arg(a, 1, "new"), "replace"),
                                 count.is_int() ? count.as_int() : -1, max_bytes));
      });
    if (name == "find")
      return method([](const std::string& t, const CallArgs& a) {
        const size_t p = t.find(need_string(arg(a, 0, "sub"), "find"));
        return Value(p == std::string::npos ? int64_t{-1} : static_cast<int64_t>(split_code_points(std::string_view(t).substr(0, p)).size()));
      });
    if (name == "join")
      return method([max_bytes](const std::string& t, const CallArgs& a) {
        CallArgs j;
        j.positional.push_back(Value(t));
        return apply_filter("join", arg(a, 0, "iterable"), j, max_bytes);
      });
    return Value();
  }
  if (obj.is_dict()) {
    const Value d = obj;
    if (name == "items" || name == "keys" || name == "values") {
      return Value(Callable([d, name](const CallArgs&) {
        ValueList out;
        for (const auto& [k, e] : d.dict()) {
          if (name == "items") out.emplace_back(ValueList{Value(k), e});
          else if (name == "keys") out.emplace_back(k);
          else out.push_back(e);
        }
        return Value(std::move(out));
      }));
    }
    if (name == "get" && !obj.find("get")) {
      return Value(Callable([d](const CallArgs& a) {
        const Value key = arg(a, 0, "key");
        const Value* found = key.is_string() ? d.find(key.as_string()) : nullptr;
        if (found) return *found;
        const bool has_default = a.positional.size() > 1 || !a.keyword.empty();
        return has_default ? arg(a, 1, "default") : Value::none();
      }));
    }
    const Value* found = obj.find(name);
    return found ? *found : Value();
  }
  return Value();
}

}  // namespace hearth::chat_template
