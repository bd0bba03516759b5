#include "core/tokenizer/chat_template/parser.h"

#include <charconv>
#include <cstdlib>

#include "core/common/error.h"

namespace hearth::chat_template {
namespace {

using K = Node::Kind;

class Parser {
 public:
  Parser(std::vector<Token> tokens, int max_depth) : t_(std::move(tokens)), max_depth_(max_depth) {}

  NodeList parse_all() {
    NodeList out = parse_body({});
    if (peek().kind != TokenKind::End) fail(peek().pos, "unexpected block tag '" + stmt_keyword() + "'");
    return out;
  }

 private:
  // RAII guard bounding the recursion of the parser.
  struct DepthGuard {
    Parser& p;
    DepthGuard(Parser& parser, SourcePos pos) : p(parser) {
      if (++p.depth_ > p.max_depth_) p.fail(pos, "template nested too deeply");
    }
    ~DepthGuard() { --p.depth_; }
  };

  [[noreturn]] void fail(SourcePos pos, const std::string& msg) const { throw FormatError(position_message(pos, msg)); }

  const Token& peek(size_t ahead = 0) const {
    const size_t k = i_ + ahead;
    return k < t_.size() ? t_[k] : t_.back();
  }
  const Token& next() {
    const Token& tok = peek();
    if (i_ < t_.size() - 1) ++i_;
    return tok;
  }
  bool is_op(const char* op, size_t ahead = 0) const {
    return peek(ahead).kind == TokenKind::Op && peek(ahead).text == op;
  }
  bool is_name(const char* n, size_t ahead = 0) const {
    return peek(ahead).kind == TokenKind::Name && peek(ahead).text == n;
  }
  bool accept_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool accept_name(const char* n) {
    if (!is_name(n)) return false;
    next();
    return true;
  }
  void expect_op(const char* op) {
    if (!accept_op(op)) fail(peek().pos, std::string("expected '") + op + "', found " + describe(peek()));
  }
  std::string expect_name() {
    if (peek().kind != TokenKind::Name) fail(peek().pos, "expected a name, found " + describe(peek()));
    return next().text;
  }
  void expect_kind(TokenKind kind, const char* what) {
    if (peek().kind != kind) fail(peek().pos, std::string("expected ") + what + ", found " + describe(peek()));
    next();
  }
  static std::string describe(const Token& tok) {
    switch (tok.kind) {
      case TokenKind::Text: return "text";
      case TokenKind::ExprOpen: return "'{{'";
      case TokenKind::ExprClose: return "'}}'";
      case TokenKind::StmtOpen: return "'{%'";
      case TokenKind::StmtClose: return "'%}'";
      case TokenKind::End: return "end of template";
      case TokenKind::String: return "a string";
      default: return "'" + tok.text + "'";
    }
  }
  // The keyword of the statement tag at the cursor ("" when the cursor is not at one).
  std::string stmt_keyword() const {
    if (peek().kind == TokenKind::StmtOpen && peek(1).kind == TokenKind::Name) return peek(1).text;
    return "";
  }

  // Parses statements until a tag whose keyword is in `stops` (left unconsumed) or the end.
  NodeList parse_body(const std::vector<const char*>& stops) {
    DepthGuard guard(*this, peek().pos);
    NodeList out;
    while (true) {
      const Token& tok = peek();
      if (tok.kind == TokenKind::End) {
        if (!stops.empty()) fail(tok.pos, std::string("missing '{% ") + stops.back() + " %}'");
        return out;
      }
      if (tok.kind == TokenKind::Text) {
        auto n = std::make_unique<Node>(K::Text, tok.pos);
        n->name = next().text;
        out.push_back(std::move(n));
      } else if (tok.kind == TokenKind::ExprOpen) {
        next();
        auto n = std::make_unique<Node>(K::Output, tok.pos);
        n->kids.push_back(parse_expression());
        expect_kind(TokenKind::ExprClose, "'}}'");
        out.push_back(std::move(n));
      } else if (tok.kind == TokenKind::StmtOpen) {
        const std::string kw = stmt_keyword();
        for (const char* stop : stops)
          if (kw == stop) return out;
        out.push_back(parse_statement());
      } else {
        fail(tok.pos, "unexpected " + describe(tok));
      }
    }
  }

  void end_tag() { expect_kind(TokenKind::StmtClose, "'%}'"); }

  // Consumes "{% keyword" (the caller knows it is there).
  SourcePos open_tag() {
    const SourcePos p = peek().pos;
    next();
    next();
    return p;
  }

  NodePtr parse_statement() {
    if (peek(1).kind != TokenKind::Name) fail(peek(1).pos, "expected a statement keyword");
    const std::string kw = peek(1).text;
    if (kw == "if") return parse_if();
    if (kw == "for") return parse_for();
    if (kw == "set") return parse_set();
    if (kw == "macro") return parse_macro();
    if (kw == "break" || kw == "continue") {
      const SourcePos p = open_tag();
      end_tag();
      return std::make_unique<Node>(kw == "break" ? K::Break : K::Continue, p);
    }
    if (kw == "generation") {  // marks assistant text for training masks; renders its body
      const SourcePos p = open_tag();
      end_tag();
      auto n = std::make_unique<Node>(K::Block, p);
      n->body = parse_body({"endgeneration"});
      open_tag();
      end_tag();
      return n;
    }
    if (kw == "include" || kw == "import" || kw == "from" || kw == "extends" || kw == "block")
      fail(peek(1).pos, "'" + kw + "' is not allowed: chat templates cannot load other templates");
    fail(peek(1).pos, "unknown or unexpected statement '" + kw + "'");
  }

  NodePtr parse_if() {
    const SourcePos p = open_tag();  // "if" or "elif"
    auto n = std::make_unique<Node>(K::If, p);
    n->kids.push_back(parse_expression());
    end_tag();
    n->body = parse_body({"elif", "else", "endif"});
    const std::string kw = stmt_keyword();
    if (kw == "elif") {
      n->else_body.push_back(parse_if());
      return n;  // the nested if consumed the endif
    }
    if (kw == "else") {
      open_tag();
      end_tag();
      n->else_body = parse_body({"endif"});
    }
    open_tag();
    end_tag();
    return n;
  }

  NodePtr parse_for() {
    const SourcePos p = open_tag();
    auto n = std::make_unique<Node>(K::For, p);
    n->names.push_back(expect_name());
    while (accept_op(",")) n->names.push_back(expect_name());
    if (!accept_name("in")) fail(peek().pos, "expected 'in' in for loop");
    n->kids.push_back(parse_or_test());  // no bare "if" here: it filters the loop
    if (accept_name("if")) n->kids.push_back(parse_expression());
    if (accept_name("recursive")) fail(peek().pos, "recursive loops are not supported");
    end_tag();
    n->body = parse_body({"else", "endfor"});
    if (stmt_keyword() == "else") {
      open_tag();
      end_tag();
      n->else_body = parse_body({"endfor"});
    }
    open_tag();
    end_tag();
    return n;
  }

  NodePtr parse_set() {
    const SourcePos p = open_tag();
    std::vector<std::string> target;
    target.push_back(expect_name());
    bool tuple = false;
    if (accept_op(".")) {
      target.push_back(expect_name());
    } else {
      while (accept_op(",")) {
        tuple = true;
        target.push_back(expect_name());
      }
    }
    if (peek().kind == TokenKind::StmtClose && target.size() == 1) {
      end_tag();
      auto n = std::make_unique<Node>(K::SetBlock, p);
      n->names = std::move(target);
      n->body = parse_body({"endset"});
      open_tag();
      end_tag();
      return n;
    }
    expect_op("=");
    auto n = std::make_unique<Node>(K::Set, p);
    n->names = std::move(target);
    n->negated = tuple;  // tuple unpacking "a, b = ..." rather than attribute "ns.a = ..."
    n->kids.push_back(parse_tuple_or_expression());
    end_tag();
    return n;
  }

  NodePtr parse_macro() {
    const SourcePos p = open_tag();
    auto n = std::make_unique<Node>(K::Macro, p);
    n->name = expect_name();
    expect_op("(");
    while (!accept_op(")")) {
      n->names.push_back(expect_name());
      n->kids.push_back(accept_op("=") ? parse_expression() : nullptr);
      if (!is_op(")")) expect_op(",");
    }
    end_tag();
    n->body = parse_body({"endmacro"});
    open_tag();
    end_tag();
    return n;
  }

  // ---- expressions, lowest precedence first ----

  NodePtr parse_tuple_or_expression() {
    const SourcePos p = peek().pos;
    NodePtr first = parse_expression();
    if (!is_op(",")) return first;
    auto list = std::make_unique<Node>(K::List, p);
    list->kids.push_back(std::move(first));
    while (accept_op(",")) list->kids.push_back(parse_expression());
    return list;
  }

  NodePtr parse_expression() {
    DepthGuard guard(*this, peek().pos);
    NodePtr value = parse_or_test();
    if (is_name("if")) {
      const SourcePos p = next().pos;
      auto n = std::make_unique<Node>(K::Cond, p);
      n->kids.push_back(std::move(value));
      n->kids.push_back(parse_or_test());
      n->kids.push_back(accept_name("else") ? parse_expression() : nullptr);
      return n;
    }
    return value;
  }

  NodePtr binary(const std::string& op, SourcePos p, NodePtr a, NodePtr b) {
    auto n = std::make_unique<Node>(K::Binary, p);
    n->name = op;
    n->kids.push_back(std::move(a));
    n->kids.push_back(std::move(b));
    return n;
  }

  NodePtr parse_or_test() {
    NodePtr left = parse_and_test();
    while (is_name("or")) {
      const SourcePos p = next().pos;
      left = binary("or", p, std::move(left), parse_and_test());
    }
    return left;
  }

  NodePtr parse_and_test() {
    NodePtr left = parse_not_test();
    while (is_name("and")) {
      const SourcePos p = next().pos;
      left = binary("and", p, std::move(left), parse_not_test());
    }
    return left;
  }

  NodePtr parse_not_test() {
    if (is_name("not")) {
      DepthGuard guard(*this, peek().pos);
      auto n = std::make_unique<Node>(K::Unary, next().pos);
      n->name = "not";
      n->kids.push_back(parse_not_test());
      return n;
    }
    return parse_compare();
  }

  NodePtr parse_compare() {
    NodePtr left = parse_math1();
    while (true) {
      const SourcePos p = peek().pos;
      std::string op;
      if (is_op("==") || is_op("!=") || is_op("<") || is_op(">") || is_op("<=") || is_op(">=")) {
        op = next().text;
      } else if (is_name("in")) {
        next();
        op = "in";
      } else if (is_name("not") && is_name("in", 1)) {
        next();
        next();
        op = "not in";
      } else {
        return left;
      }
      left = binary(op, p, std::move(left), parse_math1());
    }
  }

  NodePtr parse_math1() {
    NodePtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& tok = next();
      left = binary(tok.text, tok.pos, std::move(left), parse_concat());
    }
    return left;
  }

  NodePtr parse_concat() {
    NodePtr left = parse_math2();
    while (is_op("~")) {
      const SourcePos p = next().pos;
      left = binary("~", p, std::move(left), parse_math2());
    }
    return left;
  }

  NodePtr parse_math2() {
    NodePtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& tok = next();
      left = binary(tok.text, tok.pos, std::move(left), parse_pow());
    }
    return left;
  }

  NodePtr parse_pow() {
    NodePtr left = parse_unary();
    while (is_op("**")) {
      const SourcePos p = next().pos;
      left = binary("**", p, std::move(left), parse_unary());
    }
    return left;
  }

  // As Jinja: "-x|f" and "-x is t" apply the filter or test to -x.
  NodePtr parse_unary(bool with_filters = true) {
    DepthGuard guard(*this, peek().pos);
    NodePtr node;
    if (is_op("-") || is_op("+")) {
      const Token& tok = next();
      node = std::make_unique<Node>(K::Unary, tok.pos);
      node->name = tok.text;
      node->kids.push_back(parse_unary(false));
    } else {
      node = parse_postfix(parse_primary());
    }
    return with_filters ? parse_filters_and_tests(std::move(node)) : std::move(node);
  }

  NodePtr parse_primary() {
    const Token& tok = peek();
    switch (tok.kind) {
      case TokenKind::String: {
        auto n = std::make_unique<Node>(K::Literal, tok.pos);
        std::string s = next().text;
        while (peek().kind == TokenKind::String) s += next().text;  // adjacent literals concatenate
        n->literal = Value(std::move(s));
        return n;
      }
      case TokenKind::Int: {
        auto n = std::make_unique<Node>(K::Literal, tok.pos);
        int64_t v = 0;
        const std::string& s = tok.text;
        auto r = std::from_chars(s.data(), s.data() + s.size(), v);
        if (r.ec != std::errc()) fail(tok.pos, "integer literal out of range");
        n->literal = Value(v);
        next();
        return n;
      }
      case TokenKind::Float: {
        auto n = std::make_unique<Node>(K::Literal, tok.pos);
        n->literal = Value(std::strtod(tok.text.c_str(), nullptr));
        next();
        return n;
      }
      case TokenKind::Name: {
        const std::string& s = tok.text;
        auto n = std::make_unique<Node>(K::Literal, tok.pos);
        if (s == "true" || s == "True") n->literal = Value(true);
        else if (s == "false" || s == "False") n->literal = Value(false);
        else if (s == "none" || s == "None") n->literal = Value::none();
        else {
          n->kind = K::Name;
          n->name = s;
        }
        next();
        return n;
      }
      case TokenKind::Op: {
        if (tok.text == "(") {
          next();
          NodePtr inner = parse_tuple_or_expression();
          expect_op(")");
          return inner;
        }
        if (tok.text == "[") {
          auto n = std::make_unique<Node>(K::List, next().pos);
          while (!accept_op("]")) {
            n->kids.push_back(parse_expression());
            if (!is_op("]")) expect_op(",");
          }
          return n;
        }
        if (tok.text == "{") {
          auto n = std::make_unique<Node>(K::Dict, next().pos);
          while (!accept_op("}")) {
            n->kids.push_back(parse_expression());
            expect_op(":");
            n->kids.push_back(parse_expression());
            if (!is_op("}")) expect_op(",");
          }
          return n;
        }
        break;
      }
      default: break;
    }
    fail(tok.pos, "expected an expression, found " + describe(tok));
  }

  // Parses "(args)" after a callee or filter name into n->kids / n->names.
  void parse_call_args(Node& n) {
    expect_op("(");
    while (!accept_op(")")) {
      if (peek().kind == TokenKind::Name && is_op("=", 1)) {
        n.names.push_back(next().text);
        next();
      } else {
        n.names.emplace_back();
      }
      n.kids.push_back(parse_expression());
      if (!is_op(")")) expect_op(",");
    }
  }

  NodePtr parse_postfix(NodePtr node) {
    while (true) {
      DepthGuard guard(*this, peek().pos);
      if (is_op(".")) {
        const SourcePos p = next().pos;
        auto n = std::make_unique<Node>(K::Attr, p);
        if (peek().kind == TokenKind::Int) {  // foo.0 is foo[0]
          n->kind = K::Subscript;
          n->kids.push_back(std::move(node));
          n->kids.push_back(parse_primary());
        } else {
          n->name = expect_name();
          n->kids.push_back(std::move(node));
        }
        node = std::move(n);
      } else if (is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        auto n = std::make_unique<Node>(K::Call, peek().pos);
        n->kids.push_back(std::move(node));
        n->names.emplace_back();  // slot of the callee, keeps names aligned with kids
        parse_call_args(*n);
        node = std::move(n);
      } else {
        return node;
      }
    }
  }

  NodePtr parse_subscript(NodePtr obj) {
    const SourcePos p = next().pos;  // "["
    NodePtr parts[3];
    int colons = 0;
    while (!is_op("]")) {
      if (accept_op(":")) {
        if (++colons > 2) fail(p, "too many ':' in slice");
        continue;
      }
      if (parts[colons]) fail(peek().pos, "expected ':' or ']'");
      parts[colons] = parse_expression();
    }
    next();
    if (colons == 0) {
      if (!parts[0]) fail(p, "empty subscript");
      auto n = std::make_unique<Node>(K::Subscript, p);
      n->kids.push_back(std::move(obj));
      n->kids.push_back(std::move(parts[0]));
      return n;
    }
    auto n = std::make_unique<Node>(K::Slice, p);
    n->kids.push_back(std::move(obj));
    for (auto& part : parts) n->kids.push_back(std::move(part));
    return n;
  }

  NodePtr parse_filters_and_tests(NodePtr node) {
    while (true) {
      DepthGuard guard(*this, peek().pos);
      if (is_op("|")) {
        const SourcePos p = next().pos;
        auto n = std::make_unique<Node>(K::Filter, p);
        n->name = expect_name();
        n->kids.push_back(std::move(node));
        n->names.emplace_back();
        if (is_op("(")) parse_call_args(*n);
        node = std::move(n);
      } else if (is_name("is")) {
        const SourcePos p = next().pos;
        auto n = std::make_unique<Node>(K::Test, p);
        n->negated = accept_name("not");
        if (peek().kind == TokenKind::Name) n->name = next().text;
        else if (accept_op("==")) n->name = "eq";
        else fail(peek().pos, "expected a test name after 'is'");
        n->kids.push_back(std::move(node));
        n->names.emplace_back();
        if (is_op("(")) {
          parse_call_args(*n);
        } else if (peek().kind == TokenKind::String || peek().kind == TokenKind::Int ||
                   peek().kind == TokenKind::Float ||
                   (peek().kind == TokenKind::Name && !is_name("and") && !is_name("or") && !is_name("if") &&
                    !is_name("else") && !is_name("is") && !is_name("in") && !is_name("not"))) {
          n->kids.push_back(parse_primary());  // "is divisibleby 3", "is sameas none"
          n->names.emplace_back();
        }
        node = std::move(n);
      } else {
        return node;
      }
    }
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  int depth_ = 0;
  int max_depth_;
};

}  // namespace

NodeList parse_template(std::string_view source, int max_depth) {
  return Parser(tokenize(source), max_depth).parse_all();
}

}  // namespace hearth::chat_template
