#pragma once
// JSON output constraints for the engine (core/engine/token_constraint.h):
//   response_format json_object: the output is one JSON object (nothing after it);
//   a forced tool call: one of the literal heads '{"name": "f", "arguments": ' (one per allowed
//   tool), then a JSON object, then the literal tail '}'.
// Each step the mask allows exactly the tokens whose bytes keep the output a prefix of such a
// text (TokenTrie walked with the grammar state); end-of-generation only once it is complete.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/constrain/json_automaton.h"
#include "core/constrain/token_trie.h"
#include "core/engine/token_constraint.h"

namespace hearth::constrain {

// The whole output: [one of heads] JSON value [tail]. Leading whitespace (bounded) is allowed
// before the head or value, as tokenizers like to start with a space.
struct JsonGrammar {
  std::vector<std::string> heads;  // literal alternatives before the value; empty: none
  JsonLimits value;                // the value's limits (object_at_top for objects only)
  std::string tail;                // literal after the value
  // The request's max_tokens (0: none): when the tokens left come close to what closing the
  // open containers takes, the grammar starts closing, so the output still ends whole.
  int64_t token_budget = 0;
};

// The grammar's state as bytes arrive; small and copyable (the mask copies it per trie branch).
class JsonGrammarState {
 public:
  // `grammar` must outlive the state and its copies.
  explicit JsonGrammarState(const JsonGrammar& grammar);
  bool feed(uint8_t byte);
  bool complete() const { return phase_ == Phase::kDone; }
  int depth() const { return value_.depth(); }
  // Only the shortest ways to finish from here on (heads and the tail still complete).
  void start_closing() {
    closing_ = true;
    value_.start_closing();
  }
  bool closing() const { return closing_; }
  bool operator==(const JsonGrammarState&) const = default;

 private:
  enum class Phase : uint8_t { kHead, kValue, kTail, kDone };
  void value_closed();

  const JsonGrammar* grammar_;
  Phase phase_ = Phase::kHead;
  uint32_t choice_ = 0;          // the first head consistent with the bytes so far
  uint32_t at_ = 0;              // bytes of the head or tail matched
  uint16_t leading_space_ = 0;
  bool value_started_ = false;   // a non-space byte of the value came
  bool closing_ = false;
  JsonAutomaton value_;
};

class JsonConstraint final : public TokenConstraint {
 public:
  JsonConstraint(std::shared_ptr<const TokenTrie> trie, std::shared_ptr<const JsonGrammar> grammar);
  void mask(std::span<float> logits) override;
  void accept(TokenId token) override;
  bool complete() const override { return state_.complete(); }

 private:
  std::shared_ptr<const TokenTrie> trie_;
  std::shared_ptr<const JsonGrammar> grammar_;
  JsonGrammarState state_;
  bool broken_ = false;           // a token the mask did not allow was accepted
  int64_t generated_ = 0;         // tokens accepted so far
  std::vector<uint8_t> allowed_;  // scratch, [vocab]
  // Masks of recent states: inside a long string the state repeats token after token, and a
  // trie walk there visits most of the vocabulary. Round-robin, kMaskCacheSize entries.
  struct CachedMask {
    JsonGrammarState state;
    std::vector<uint8_t> allowed;
  };
  static constexpr size_t kMaskCacheSize = 8;
  std::vector<CachedMask> mask_cache_;
  size_t next_slot_ = 0;
};

// The factory a Request takes; tries come from `cache` (one vocabulary scan per model).
TokenConstraintFactory json_constraint_factory(std::shared_ptr<TokenTrieCache> cache, JsonGrammar grammar);

// '{"name": <name as JSON>, "arguments": ' heads and the '}' tail for a forced tool call.
JsonGrammar tool_call_grammar(const std::vector<std::string>& tool_names);

}  // namespace hearth::constrain
