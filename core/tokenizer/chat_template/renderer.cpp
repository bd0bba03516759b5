#include "core/tokenizer/chat_template/renderer.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "core/tokenizer/chat_template/builtins.h"
#include "core/tokenizer/chat_template/frame_analysis.h"

namespace hearth::chat_template {
namespace {

using K = Node::Kind;
using Scope = std::unordered_map<std::string, Value>;
using ScopeStack = std::vector<std::shared_ptr<Scope>>;

enum class Flow { Normal, Break, Continue };

class Renderer {
 public:
  Renderer(const ValueDict& globals, const TemplateLimits& limits) : limits_(limits) {
    auto base = std::make_shared<Scope>();
    for (const auto& [k, v] : globals) (*base)[k] = v;
    install_builtins(*base);
    scopes_.push_back(std::move(base));
    scopes_.push_back(std::make_shared<Scope>());  // the template's own top-level variables
  }

  std::string run(const NodeList& program) {
    scopes_.pop_back();
    push_frame(symbols_of(program, {}));
    const Flow flow = render_body(program);
    (void)flow;  // a stray break/continue outside a loop simply ends the template, as an early exit
    return std::move(out_);
  }

 private:
  [[noreturn]] void fail(SourcePos pos, const std::string& msg) const { throw Error(position_message(pos, msg)); }

  void install_builtins(Scope& s) {
    s["raise_exception"] = Value(Callable([](const CallArgs& a) -> Value {
      throw TemplateRaisedError(a.positional.empty() ? std::string("raise_exception() called") : a.positional[0].to_str());
    }));
    s["namespace"] = Value(Callable([](const CallArgs& a) {
      ValueDict d;
      for (const Value& p : a.positional)
        if (p.is_dict()) for (const auto& kv : p.dict()) d.push_back(kv);
      for (const auto& kv : a.keyword) d.push_back(kv);
      return Value(std::move(d));
    }));
    s["dict"] = Value(Callable([](const CallArgs& a) {
      ValueDict d;
      for (const auto& kv : a.keyword) d.push_back(kv);
      return Value(std::move(d));
    }));
    const uint64_t max_items = limits_.max_loop_iterations;
    s["range"] = Value(Callable([max_items](const CallArgs& a) {
      int64_t start = 0, stop = 0, step = 1;
      for (const Value& v : a.positional)
        if (!v.is_int()) throw BuiltinError("range() expects integers");
      if (a.positional.size() == 1) stop = a.positional[0].as_int();
      else if (a.positional.size() >= 2) {
        start = a.positional[0].as_int();
        stop = a.positional[1].as_int();
        if (a.positional.size() >= 3) step = a.positional[2].as_int();
      }
      if (step == 0) throw BuiltinError("range() step must not be zero");
      ValueList out;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (out.size() >= max_items) throw BuiltinError("range() larger than the loop iteration limit");
        out.emplace_back(i);
        if ((step > 0 && i > INT64_MAX - step) || (step < 0 && i < INT64_MIN - step)) break;
      }
      return Value(std::move(out));
    }));
    s["strftime_now"] = Value(Callable([](const CallArgs& a) {
      const std::string fmt = a.positional.empty() ? std::string("%Y-%m-%d") : a.positional[0].to_str();
      if (fmt.size() > 256) throw BuiltinError("strftime_now format too long");
      const std::time_t now = std::time(nullptr);
      std::tm tm{};
#ifdef _WIN32
      localtime_s(&tm, &now);  // the same, argument order of the C11 Annex K / MSVCRT function
#else
      localtime_r(&now, &tm);
#endif
      char buf[1024];
      const size_t n = std::strftime(buf, sizeof buf, fmt.c_str(), &tm);
      return Value(std::string(buf, n));
    }));
  }

  // ---- output and limits ----

  void emit(const std::string& s) {
    if (s.size() > limits_.max_output_bytes || out_.size() > limits_.max_output_bytes - s.size())
      throw Error("chat template: output exceeds " + std::to_string(limits_.max_output_bytes) + " bytes");
    out_ += s;
  }

  // Charges a string operand against max_string_work_bytes (see TemplateLimits).
  const Value& charge(const Value& v, SourcePos pos) {
    if (v.is_string()) {
      work_ += v.as_string().size();
      if (work_ > limits_.max_string_work_bytes)
        fail(pos, "string processing exceeds " + std::to_string(limits_.max_string_work_bytes) + " bytes");
    }
    return v;
  }

  void count_iteration(SourcePos pos) {
    if (++iterations_ > limits_.max_loop_iterations)
      fail(pos, "loop iterations exceed " + std::to_string(limits_.max_loop_iterations));
  }

  Value checked_string(std::string s, SourcePos pos) const {
    if (s.size() > limits_.max_output_bytes) fail(pos, "string longer than the output limit");
    return Value(std::move(s));
  }

  // ---- variables ----

  Value lookup(const std::string& name) const {
    for (size_t k = scopes_.size(); k-- > 0;) {
      auto found = scopes_[k]->find(name);
      if (found != scopes_[k]->end()) return found->second;
      if (k < frame_locals_.size() && frame_locals_[k] && frame_locals_[k]->count(name)) return Value();
    }
    return Value();
  }

  // Pushes the scope of a frame (template top level, loop iteration, macro call) together with the
  // names that are undefined in it until assigned (see frame_analysis.h).
  void push_frame(const FrameSymbols* symbols) {
    scopes_.push_back(std::make_shared<Scope>());
    std::shared_ptr<const std::unordered_set<std::string>> locals;
    if (symbols) {
      auto set = std::make_shared<std::unordered_set<std::string>>();
      for (const std::string& name : symbols->undefined_until_assigned) {
        bool seen_outside = false;
        for (const FrameSymbols* outer : frame_symbols_) seen_outside = seen_outside || (outer && outer->referenced.count(name));
        if (!seen_outside) set->insert(name);
      }
      locals = std::move(set);
    }
    frame_locals_.resize(scopes_.size() - 1);
    frame_locals_.push_back(std::move(locals));
    frame_symbols_.resize(scopes_.size() - 1);
    frame_symbols_.push_back(symbols);
  }
  void pop_frame() {
    scopes_.pop_back();
    frame_locals_.resize(scopes_.size());
    frame_symbols_.resize(scopes_.size());
  }
  struct FrameGuard {
    Renderer& r;
    FrameGuard(Renderer& renderer, const FrameSymbols* symbols) : r(renderer) { r.push_frame(symbols); }
    ~FrameGuard() { r.pop_frame(); }
  };
  const FrameSymbols* symbols_of(const NodeList& body, const std::vector<std::string>& params) {
    auto it = analyses_.find(&body);
    if (it == analyses_.end()) it = analyses_.emplace(&body, analyze_frame(body, params)).first;
    return &it->second;
  }

  void assign(const std::string& name, Value v) { (*scopes_.back())[name] = std::move(v); }

  // ---- statements ----

  Flow render_body(const NodeList& body) {
    for (const NodePtr& n : body) {
      const Flow f = render_node(*n);
      if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
  }

  Flow render_node(const Node& n) {
    switch (n.kind) {
      case K::Text: emit(n.name); return Flow::Normal;
      case K::Output: emit(eval(*n.kids[0]).to_str()); return Flow::Normal;
      case K::If: return eval(*n.kids[0]).truthy() ? render_body(n.body) : render_body(n.else_body);
      case K::For: return render_for(n);
      case K::Set: render_set(n); return Flow::Normal;
      case K::SetBlock: {
        std::string saved = std::move(out_);
        out_.clear();
        const Flow f = render_body(n.body);
        std::string captured = std::move(out_);
        out_ = std::move(saved);
        assign(n.names[0], Value(std::move(captured)));
        return f;
      }
      case K::Macro: define_macro(n); return Flow::Normal;
      case K::Break: return Flow::Break;
      case K::Continue: return Flow::Continue;
      case K::Block: return render_body(n.body);
      default: fail(n.pos, "internal: expression used as a statement");
    }
  }

  void bind_targets(const Node& n, const std::vector<std::string>& names, const Value& item) {
    if (names.size() == 1) {
      assign(names[0], item);
      return;
    }
    if (!item.is_list() || item.list().size() != names.size())
      fail(n.pos, "cannot unpack " + std::string(item.type_name()) + " into " + std::to_string(names.size()) + " names");
    for (size_t i = 0; i < names.size(); ++i) assign(names[i], item.list()[i]);
  }

  struct ScopeGuard {
    ScopeStack& s;
    explicit ScopeGuard(ScopeStack& stack) : s(stack) { s.push_back(std::make_shared<Scope>()); }
    ~ScopeGuard() { s.pop_back(); }
  };

  Flow render_for(const Node& n) {
    ValueList items;
    try {
      const Value iterable = charge(eval(*n.kids[0]), n.kids[0]->pos);
      // A string becomes one item per code point: refuse before materializing more items than
      // the loop may ever visit.
      if (iterable.is_string()) {
        uint64_t code_points = 0;
        for (char c : iterable.as_string()) code_points += (static_cast<uint8_t>(c) & 0xC0) != 0x80;
        if (code_points > limits_.max_loop_iterations - std::min(iterations_, limits_.max_loop_iterations))
          fail(n.pos, "loop iterations exceed " + std::to_string(limits_.max_loop_iterations));
      }
      items = iterate(iterable);
    } catch (const BuiltinError& e) {
      fail(n.kids[0]->pos, e.what());
    }
    ScopeGuard scope(scopes_);
    if (n.kids.size() > 1) {  // "for x in xs if cond": filter first, loop.length counts the kept items
      ValueList kept;
      for (Value& item : items) {
        count_iteration(n.pos);
        bind_targets(n, n.names, item);
        if (eval(*n.kids[1]).truthy()) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      // Jinja renders a for-else block in a frame of its own (its sets stay inside it).
      FrameGuard else_frame(*this, symbols_of(n.else_body, {}));
      return render_body(n.else_body);
    }
    const int64_t length = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < length; ++i) {
      count_iteration(n.pos);
      std::vector<std::string> params = n.names;
      params.push_back("loop");
      FrameGuard iteration_frame(*this, symbols_of(n.body, params));  // a `set` in the body lasts one iteration
      const Value& item = items[static_cast<size_t>(i)];
      bind_targets(n, n.names, item);
      ValueDict loop;
      loop.emplace_back("index", Value(i + 1));
      loop.emplace_back("index0", Value(i));
      loop.emplace_back("revindex", Value(length - i));
      loop.emplace_back("revindex0", Value(length - i - 1));
      loop.emplace_back("first", Value(i == 0));
      loop.emplace_back("last", Value(i == length - 1));
      loop.emplace_back("length", Value(length));
      loop.emplace_back("previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value());
      loop.emplace_back("nextitem", i + 1 < length ? items[static_cast<size_t>(i + 1)] : Value());
      loop.emplace_back("cycle", Value(Callable([i](const CallArgs& a) {
        if (a.positional.empty()) throw BuiltinError("loop.cycle() needs arguments");
        return a.positional[static_cast<size_t>(i) % a.positional.size()];
      })));
      assign("loop", Value(std::move(loop)));
      if (render_body(n.body) == Flow::Break) break;
    }
    return Flow::Normal;
  }

  void render_set(const Node& n) {
    Value v = eval(*n.kids[0]);
    if (n.negated) {  // a, b = ...
      bind_targets(n, n.names, v);
      return;
    }
    if (n.names.size() == 1) {
      assign(n.names[0], std::move(v));
      return;
    }
    const Value target = lookup(n.names[0]);
    if (!target.is_dict()) fail(n.pos, "cannot assign attribute '" + n.names[1] + "' of " + target.type_name() + " '" + n.names[0] + "'");
    // Values are reference-counted: a cycle (ns.self = ns) would never be freed, so it is refused.
    if (reaches(v, target.identity(), 0)) fail(n.pos, "cannot store '" + n.names[0] + "' inside itself");
    target.set(n.names[1], std::move(v));
  }

  bool reaches(const Value& v, const void* container, int depth) const {
    if (depth > 128) throw Error("chat template: value nested too deeply");
    if (v.is_list() || v.is_dict()) {
      if (v.identity() == container) return true;
      if (v.is_list()) {
        for (const Value& e : v.list())
          if (reaches(e, container, depth + 1)) return true;
      } else {
        for (const auto& kv : v.dict())
          if (reaches(kv.second, container, depth + 1)) return true;
      }
    }
    return false;
  }

  void define_macro(const Node& n) {
    // The macro sees the inputs, the template's top level, and its own arguments.
    // Weak references: the macro is itself stored in these scopes, and a strong one would be a cycle.
    std::vector<std::weak_ptr<Scope>> closure{scopes_[0], scopes_[1]};
    const Node* macro = &n;
    assign(n.name, Value(Callable([this, macro, closure](const CallArgs& a) {
      ScopeStack scopes;
      for (const auto& weak : closure) scopes.push_back(weak.lock());
      if (!scopes[0] || !scopes[1]) throw Error("chat template: macro called after its template ended");
      return call_macro(*macro, scopes, a);
    })));
  }

  Value call_macro(const Node& m, const ScopeStack& closure, const CallArgs& a) {
    if (depth_ >= limits_.max_recursion_depth) fail(m.pos, "macro calls nested deeper than " + std::to_string(limits_.max_recursion_depth));
    if (a.positional.size() > m.names.size()) fail(m.pos, "too many arguments to macro '" + m.name + "'");
    ScopeStack saved_scopes = std::move(scopes_);
    auto saved_locals = std::move(frame_locals_);
    auto saved_symbols = std::move(frame_symbols_);
    std::string saved_out = std::move(out_);
    scopes_ = closure;
    frame_locals_.assign(saved_locals.begin(), saved_locals.begin() + 2);
    frame_symbols_.assign(saved_symbols.begin(), saved_symbols.begin() + 2);
    std::vector<std::string> params = m.names;
    params.insert(params.end(), {"varargs", "kwargs"});
    push_frame(symbols_of(m.body, params));
    out_.clear();
    ++depth_;
    struct Restore {
      Renderer& r;
      ScopeStack& scopes;
      std::string& out;
      std::vector<std::shared_ptr<const std::unordered_set<std::string>>>& locals;
      std::vector<const FrameSymbols*>& symbols;
      ~Restore() {
        --r.depth_;
        r.scopes_ = std::move(scopes);
        r.frame_locals_ = std::move(locals);
        r.frame_symbols_ = std::move(symbols);
        r.out_ = std::move(out);
      }
    } restore{*this, saved_scopes, saved_out, saved_locals, saved_symbols};
    for (size_t i = 0; i < m.names.size(); ++i) {
      Value v;
      if (i < a.positional.size()) v = a.positional[i];
      for (const auto& [k, kv] : a.keyword)
        if (k == m.names[i]) v = kv;
      if (v.is_undefined() && m.kids[i]) v = eval(*m.kids[i]);
      assign(m.names[i], v);
    }
    render_body(m.body);
    return Value(std::move(out_));
  }

  // ---- expressions ----

  CallArgs eval_args(const Node& n, size_t first) {
    CallArgs args;
    for (size_t i = first; i < n.kids.size(); ++i) {
      Value v = eval(*n.kids[i]);
      if (i < n.names.size() && !n.names[i].empty()) args.keyword.emplace_back(n.names[i], std::move(v));
      else args.positional.push_back(std::move(v));
    }
    return args;
  }

  Value eval(const Node& n) {
    try {
      return eval_inner(n);
    } catch (const BuiltinError& e) {
      fail(n.pos, e.what());
    }
  }

  Value eval_inner(const Node& n) {
    switch (n.kind) {
      case K::Literal: return n.literal;
      case K::Name: return lookup(n.name);
      case K::List: {
        ValueList items;
        for (const NodePtr& k : n.kids) items.push_back(eval(*k));
        return Value(std::move(items));
      }
      case K::Dict: {
        Value d{ValueDict{}};
        for (size_t i = 0; i + 1 < n.kids.size(); i += 2) {
          const Value key = eval(*n.kids[i]);
          if (!key.is_string()) fail(n.kids[i]->pos, "dict keys must be strings");
          d.set(key.as_string(), eval(*n.kids[i + 1]));
        }
        return d;
      }
      case K::Attr: return get_attribute(charge(eval(*n.kids[0]), n.pos), n.name, limits_.max_output_bytes, limits_.dialect);
      case K::Subscript: return get_item(charge(eval(*n.kids[0]), n.pos), eval(*n.kids[1]));
      case K::Slice: {
        const Value obj = charge(eval(*n.kids[0]), n.pos);
        auto part = [&](size_t i) { return n.kids[i] ? eval(*n.kids[i]) : Value(); };
        return get_slice(obj, part(1), part(2), part(3));
      }
      case K::Call: {
        const Value callee = eval(*n.kids[0]);
        if (!callee.is_function()) {
          const std::string what = n.kids[0]->kind == K::Name ? "'" + n.kids[0]->name + "'" : std::string("value");
          fail(n.pos, what + (callee.is_undefined() ? " is undefined" : " is not callable"));
        }
        const CallArgs args = eval_args(n, 1);
        return callee.function()(args);
      }
      case K::Filter: {
        const Value operand = charge(eval(*n.kids[0]), n.pos);
        return apply_filter(n.name, operand, eval_args(n, 1), limits_.max_output_bytes, limits_.dialect);
      }
      case K::Test: {
        const Value operand = charge(eval(*n.kids[0]), n.pos);
        return Value(apply_test(n.name, operand, eval_args(n, 1)) != n.negated);
      }
      case K::Unary: {
        const Value v = eval(*n.kids[0]);
        if (n.name == "not") return Value(!v.truthy());
        if (v.is_int()) {
          if (n.name == "+") return v;
          if (v.as_int() == INT64_MIN) fail(n.pos, "integer overflow");
          return Value(-v.as_int());
        }
        if (v.is_float()) return Value(n.name == "-" ? -v.as_number() : v.as_number());
        fail(n.pos, "bad operand type for unary " + n.name + ": " + v.type_name());
      }
      case K::Binary: return eval_binary(n);
      case K::Cond: {
        if (eval(*n.kids[1]).truthy()) return eval(*n.kids[0]);
        return n.kids[2] ? eval(*n.kids[2]) : Value();
      }
      default: fail(n.pos, "internal: statement used as an expression");
    }
  }

  Value eval_binary(const Node& n) {
    const std::string& op = n.name;
    const Value a = eval(*n.kids[0]);
    if (op == "and") return a.truthy() ? eval(*n.kids[1]) : a;
    if (op == "or") return a.truthy() ? a : eval(*n.kids[1]);
    const Value b = eval(*n.kids[1]);
    charge(a, n.pos);
    charge(b, n.pos);
    if (op == "~") {
      std::string s = a.to_str();
      const std::string t = b.to_str();
      if (s.size() + t.size() > limits_.max_output_bytes) fail(n.pos, "string longer than the output limit");
      return Value(s + t);
    }
    if (op == "==") return Value(values_equal(a, b));
    if (op == "!=") return Value(!values_equal(a, b));
    if (op == "in" || op == "not in") {
      CallArgs args;
      args.positional.push_back(b);
      const bool found = (b.is_undefined() || b.is_none()) ? false
                         : (b.is_string() && !a.is_string()) ? throw Error(position_message(n.pos, "'in <string>' requires a string on the left")), false
                                                              : apply_test("in", a, args);
      return Value(found != (op == "not in"));
    }
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      CallArgs args;
      args.positional.push_back(b);
      const char* test = op == "<" ? "lt" : op == ">" ? "gt" : op == "<=" ? "le" : "ge";
      return Value(apply_test(test, a, args));
    }
    return arithmetic(n, op, a, b);
  }

  Value arithmetic(const Node& n, const std::string& op, const Value& a, const Value& b) {
    const auto type_error = [&]() -> Value {
      fail(n.pos, "unsupported operand types for " + op + ": " + a.type_name() + " and " + b.type_name());
    };
    if (op == "+") {
      if (a.is_string() && b.is_string()) return checked_string(a.as_string() + b.as_string(), n.pos);
      if (a.is_list() && b.is_list()) {
        ValueList out = a.list();
        out.insert(out.end(), b.list().begin(), b.list().end());
        return Value(std::move(out));
      }
    }
    if (op == "*" && (a.is_string() || a.is_list() || b.is_string() || b.is_list())) {
      const Value& seq = (a.is_string() || a.is_list()) ? a : b;
      const Value& times = (a.is_string() || a.is_list()) ? b : a;
      if (!times.is_int() && !times.is_bool()) return type_error();
      const int64_t k = std::max<int64_t>(times.as_int(), 0);
      const size_t unit = seq.is_string() ? seq.as_string().size() : seq.list().size();
      if (unit && static_cast<uint64_t>(k) > limits_.max_output_bytes / unit) fail(n.pos, "repetition exceeds the output limit");
      if (seq.is_string()) {
        std::string out;
        for (int64_t i = 0; i < k; ++i) out += seq.as_string();
        return Value(std::move(out));
      }
      ValueList out;
      for (int64_t i = 0; i < k; ++i) out.insert(out.end(), seq.list().begin(), seq.list().end());
      return Value(std::move(out));
    }
    const bool a_num = a.is_number() || a.is_bool();
    const bool b_num = b.is_number() || b.is_bool();
    if (!a_num || !b_num) return type_error();
    if (op == "/") {
      if (b.as_number() == 0) fail(n.pos, "division by zero");
      return Value(a.as_number() / b.as_number());
    }
    if (op == "**") {
      if (!a.is_float() && !b.is_float() && b.as_number() >= 0) {
        int64_t r = 1;
        for (int64_t i = 0; i < b.as_int(); ++i)
          if (__builtin_mul_overflow(r, a.as_int(), &r)) fail(n.pos, "integer overflow");
        return Value(r);
      }
      return Value(std::pow(a.as_number(), b.as_number()));
    }
    if (!a.is_float() && !b.is_float()) {  // integer arithmetic, Python's floor semantics
      const int64_t x = a.as_int(), y = b.as_int();
      int64_t r = 0;
      if (op == "+") { if (__builtin_add_overflow(x, y, &r)) fail(n.pos, "integer overflow"); return Value(r); }
      if (op == "-") { if (__builtin_sub_overflow(x, y, &r)) fail(n.pos, "integer overflow"); return Value(r); }
      if (op == "*") { if (__builtin_mul_overflow(x, y, &r)) fail(n.pos, "integer overflow"); return Value(r); }
      if (y == 0) fail(n.pos, "division by zero");
      if (x == INT64_MIN && y == -1) fail(n.pos, "integer overflow");
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) { --q; m += y; }
      return Value(op == "//" ? q : m);
    }
    const double x = a.as_number(), y = b.as_number();
    if (op == "+") return Value(x + y);
    if (op == "-") return Value(x - y);
    if (op == "*") return Value(x * y);
    if (y == 0) fail(n.pos, "division by zero");
    if (op == "//") return Value(std::floor(x / y));
    double m = std::fmod(x, y);
    if (m != 0 && ((m < 0) != (y < 0))) m += y;
    return Value(m);
  }

  const TemplateLimits& limits_;
  ScopeStack scopes_;
  std::string out_;
  uint64_t iterations_ = 0;
  uint64_t work_ = 0;  // string bytes processed (charge())
  int depth_ = 0;
  std::vector<std::shared_ptr<const std::unordered_set<std::string>>> frame_locals_;  // parallel to scopes_
  std::vector<const FrameSymbols*> frame_symbols_;                                   // parallel to scopes_
  std::unordered_map<const NodeList*, FrameSymbols> analyses_;
};

}  // namespace

std::string render(const NodeList& program, const ValueDict& globals, const TemplateLimits& limits) {
  return Renderer(globals, limits).run(program);
}

}  // namespace hearth::chat_template
