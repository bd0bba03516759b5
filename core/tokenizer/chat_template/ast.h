#pragma once
// Syntax tree of a parsed chat template. One node type with a kind tag keeps the tree small:
//   expressions: Literal(value) Name(name) List(kids) Dict(kids = k0 v0 k1 v1 ...) Attr(kids[0], name)
//     Subscript(kids = obj, index) Slice(kids = obj, start?, stop?, step?; null = absent)
//     Call(kids = callee, args...; names = keyword names of the trailing args, "" for positional)
//     Filter(kids = operand, args...; name = filter; names as Call) Test(same; negated)
//     Unary(name = "-", "+", "not") Binary(name = operator; kids = lhs, rhs) Cond(kids = then, cond, else?)
//   statements: Text(name = text) Output(kids[0]) If(kids[0] = cond; body; else_body)
//     For(names = targets; kids = iterable, filter?; body; else_body) Set(names = target path; kids[0])
//     SetBlock(names; body) Macro(name; names = params; kids = defaults (null = none); body)
//     Break Continue Block(body: {% generation %} and friends render their body)
#include <memory>
#include <string>
#include <vector>

#include "core/tokenizer/chat_template/lexer.h"
#include "core/tokenizer/chat_template/value.h"

namespace hearth::chat_template {

struct Node;
using NodePtr = std::unique_ptr<Node>;
using NodeList = std::vector<NodePtr>;

struct Node {
  enum class Kind {
    Literal, Name, List, Dict, Attr, Subscript, Slice, Call, Filter, Test, Unary, Binary, Cond,
    Text, Output, If, For, Set, SetBlock, Macro, Break, Continue, Block
  };
  Kind kind;
  SourcePos pos;
  std::string name;
  std::vector<std::string> names;
  Value literal;
  NodeList kids;
  NodeList body;
  NodeList else_body;
  bool negated = false;

  Node(Kind k, SourcePos p) : kind(k), pos(p) {}
};

}  // namespace hearth::chat_template
