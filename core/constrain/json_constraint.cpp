#include "core/constrain/json_constraint.h"

#include <cstdio>
#include <limits>

#include "core/common/error.h"

namespace hearth::constrain {

namespace {

bool is_whitespace(uint8_t b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }

// Whitespace allowed before a head, the value and the tail (a tokenizer's leading space, a
// newline): a model that likes blank lines would otherwise spend its first tokens on them.
constexpr uint16_t kMaxLeadingSpace = 2;
// Tokens kept for closing: finishing an escape or character, the string, a colon and a short
// value, the tail, and one closer per open container (at most a byte each).
constexpr int64_t kClosingReserve = 20;

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace

JsonGrammarState::JsonGrammarState(const JsonGrammar& grammar) : grammar_(&grammar), value_(grammar.value) {
  if (grammar_->heads.empty()) phase_ = Phase::kValue;
}

void JsonGrammarState::value_closed() {
  phase_ = grammar_->tail.empty() ? Phase::kDone : Phase::kTail;
  at_ = 0;
  leading_space_ = 0;
}

bool JsonGrammarState::feed(uint8_t b) {
  switch (phase_) {
    case Phase::kHead: {
      if (at_ == 0 && is_whitespace(b)) return !closing_ && ++leading_space_ <= kMaxLeadingSpace;
      // Heads consistent so far share their first at_ bytes; keep the first that also has b next.
      const auto& heads = grammar_->heads;
      const std::string& current = heads[choice_];
      for (uint32_t h = choice_; h < heads.size(); ++h) {
        const std::string& cand = heads[h];
        if (cand.size() > at_ && static_cast<uint8_t>(cand[at_]) == b && cand.compare(0, at_, current, 0, at_) == 0) {
          choice_ = h;
          if (++at_ == cand.size()) {
            phase_ = Phase::kValue;
            at_ = 0;
            leading_space_ = 0;
          }
          return true;
        }
      }
      return false;
    }
    case Phase::kValue:
      if (!value_started_) {
        if (is_whitespace(b)) return !closing_ && ++leading_space_ <= kMaxLeadingSpace;
        value_started_ = true;
      }
      if (!value_.feed(b)) return false;
      if (value_.complete()) value_closed();
      return true;
    case Phase::kTail:
      if (at_ == 0 && is_whitespace(b)) return !closing_ && ++leading_space_ <= kMaxLeadingSpace;
      if (static_cast<uint8_t>(grammar_->tail[at_]) != b) return false;
      if (++at_ == grammar_->tail.size()) phase_ = Phase::kDone;
      return true;
    case Phase::kDone:
      return false;  // complete: the engine stops here
  }
  return false;
}

JsonConstraint::JsonConstraint(std::shared_ptr<const TokenTrie> trie, std::shared_ptr<const JsonGrammar> grammar)
    : trie_(std::move(trie)), grammar_(std::move(grammar)), state_(*grammar_) {}

void JsonConstraint::mask(std::span<float> logits) {
  const int64_t budget = grammar_->token_budget;
  if (budget > 0 && !state_.closing() && budget - generated_ <= state_.depth() + kClosingReserve) state_.start_closing();
  const std::vector<uint8_t>* allowed = nullptr;
  if (broken_) {
    allowed_.assign(static_cast<size_t>(trie_->vocab_size()), 0);
    allowed = &allowed_;
  }
  for (const CachedMask& m : mask_cache_)
    if (!allowed && m.state == state_) allowed = &m.allowed;
  if (!allowed) {
    allowed_.assign(static_cast<size_t>(trie_->vocab_size()), 0);
    trie_->collect(state_, allowed_);
    if (state_.complete())
      for (TokenId id : trie_->end_of_generation()) allowed_[static_cast<size_t>(id)] = 1;
    if (mask_cache_.size() < kMaskCacheSize) {
      mask_cache_.push_back({state_, allowed_});
    } else {
      mask_cache_[next_slot_] = {state_, allowed_};
      next_slot_ = (next_slot_ + 1) % kMaskCacheSize;
    }
    allowed = &allowed_;
  }
  // Logits past the tokenizer's vocabulary (padded output rows) are never allowed.
  constexpr float kNever = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < logits.size(); ++i)
    if (i >= allowed->size() || !(*allowed)[i]) logits[i] = kNever;
}

void JsonConstraint::accept(TokenId token) {
  ++generated_;
  if (token < 0 || token >= trie_->vocab_size()) {
    broken_ = true;
    return;
  }
  for (unsigned char c : trie_->piece(token)) {
    if (!state_.feed(c)) {
      broken_ = true;
      return;
    }
  }
}

TokenConstraintFactory json_constraint_factory(std::shared_ptr<TokenTrieCache> cache, JsonGrammar grammar) {
  auto shared = std::make_shared<const JsonGrammar>(std::move(grammar));
  return [cache = std::move(cache), shared](const Tokenizer& tokenizer) -> std::unique_ptr<TokenConstraint> {
    return std::make_unique<JsonConstraint>(cache->get(tokenizer), shared);
  };
}

JsonGrammar tool_call_grammar(const std::vector<std::string>& tool_names) {
  if (tool_names.empty()) throw Error("a forced tool call needs at least one tool");
  JsonGrammar g;
  for (const auto& name : tool_names) g.heads.push_back("{\"name\": " + json_string(name) + ", \"arguments\": ");
  g.value.object_at_top = true;
  g.tail = "}";
  return g;
}

}  // namespace hearth::constrain
