#include "core/tokenizer/chat_template/frame_analysis.h"

#include <map>

namespace hearth::chat_template {
namespace {

using K = Node::Kind;

// name -> true when the name starts undefined (first mention was a store).
struct Symbols {
  std::map<std::string, bool> refs;
  std::unordered_set<std::string> stores;

  void load(const std::string& name) { refs.emplace(name, false); }
  void store(const std::string& name) {
    stores.insert(name);
    refs.emplace(name, true);
  }
};

void visit_expression(const Node& n, Symbols& s) {
  if (n.kind == K::Name) s.load(n.name);
  for (const NodePtr& kid : n.kids)
    if (kid) visit_expression(*kid, s);
}

void visit_body(const NodeList& body, Symbols& s);
void visit_branches(const NodeList& first, const NodeList& second, Symbols& s);

void visit_statement(const Node& n, Symbols& s) {
  switch (n.kind) {
    case K::Output: visit_expression(*n.kids[0], s); break;
    case K::Set:
      visit_expression(*n.kids[0], s);
      if (!n.negated && n.names.size() == 2) s.load(n.names[0]);  // ns.attr = ...
      else for (const std::string& name : n.names) s.store(name);
      break;
    case K::SetBlock: s.store(n.names[0]); break;
    case K::Macro: s.store(n.name); break;
    case K::For: visit_expression(*n.kids[0], s); break;  // the body and the else block are frames of their own
    case K::Block: visit_body(n.body, s); break;
    case K::If: {
      visit_expression(*n.kids[0], s);
      visit_branches(n.body, n.else_body, s);
      break;
    }
    default: break;
  }
}

// Two alternative bodies (if / else) visited from the same starting state.
void visit_branches(const NodeList& first, const NodeList& second, Symbols& s) {
  const std::unordered_set<std::string> stores_before = s.stores;
  Symbols branches[2] = {s, s};
  visit_body(first, branches[0]);
  visit_body(second, branches[1]);
  for (const Symbols& b : branches) {
    for (const auto& [name, undefined] : b.refs) s.refs[name] = undefined;
    s.stores.insert(b.stores.begin(), b.stores.end());
  }
  // Names assigned in a branch start from the outer value (Jinja's branch_update).
  for (const Symbols& b : branches)
    for (const std::string& name : b.stores)
      if (!stores_before.count(name)) s.refs[name] = false;
}

void visit_body(const NodeList& body, Symbols& s) {
  for (const NodePtr& n : body) visit_statement(*n, s);
}

}  // namespace

FrameSymbols analyze_frame(const NodeList& body, const std::vector<std::string>& params) {
  Symbols s;
  for (const std::string& p : params) s.refs.emplace(p, false);
  visit_body(body, s);
  FrameSymbols out;
  for (const auto& [name, undefined] : s.refs) {
    out.referenced.insert(name);
    if (undefined) out.undefined_until_assigned.insert(name);
  }
  return out;
}

}  // namespace hearth::chat_template
