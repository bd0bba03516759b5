#pragma once
// The vocabulary as a trie over token bytes, built once per tokenizer: a token mask walks it with
// a byte automaton, copying the automaton's state at each branch and pruning a whole subtree at
// the first byte the automaton refuses, so a 150k vocabulary costs far fewer automaton steps
// than 150k separate token checks (most subtrees die after a byte or two).
//
// Tokens whose piece is empty (control tokens) are not in the trie: they can never be generated
// under a constraint, except end-of-generation tokens, which the constraint handles itself.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/tokenizer/tokenizer.h"

namespace hearth::constrain {

class TokenTrie {
 public:
  explicit TokenTrie(const Tokenizer& tokenizer);

  int32_t vocab_size() const { return vocab_size_; }
  const std::string& piece(TokenId id) const { return pieces_[static_cast<size_t>(id)]; }
  const std::vector<TokenId>& end_of_generation() const { return end_of_generation_; }

  // Sets allowed[id] = 1 for every token whose whole piece `start` accepts byte by byte.
  // State: copyable, with bool feed(uint8_t). allowed.size() must be >= vocab_size().
  template <class State>
  void collect(const State& start, std::vector<uint8_t>& allowed) const {
    struct Item {
      uint32_t node;
      State state;
    };
    std::vector<Item> stack;
    stack.push_back({0, start});
    while (!stack.empty()) {
      Item item = std::move(stack.back());
      stack.pop_back();
      const Node& n = nodes_[item.node];
      for (uint32_t t = n.tokens_begin; t < n.tokens_end; ++t) allowed[static_cast<size_t>(sorted_ids_[t])] = 1;
      for (uint32_t c = n.first_child; c != kNone; c = nodes_[c].next_sibling) {
        State s = item.state;
        if (s.feed(nodes_[c].byte)) stack.push_back({c, std::move(s)});
      }
    }
  }

  // A cheap identity of the vocabulary (size, special ids, a sample of pieces): tells a reloaded
  // tokenizer at a reused address from the one a trie was built for.
  static uint64_t fingerprint(const Tokenizer& tokenizer);
  uint64_t fingerprint() const { return fingerprint_; }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  struct Node {
    uint32_t first_child = kNone;
    uint32_t next_sibling = kNone;
    uint32_t tokens_begin = 0, tokens_end = 0;  // range of sorted_ids_ whose piece ends here
    uint8_t byte = 0;
  };

  int32_t vocab_size_ = 0;
  uint64_t fingerprint_ = 0;
  std::vector<std::string> pieces_;      // by token id (render_special = false)
  std::vector<TokenId> sorted_ids_;      // non-empty pieces, in byte order of their piece
  std::vector<Node> nodes_;              // nodes_[0]: the root (the empty prefix)
  std::vector<TokenId> end_of_generation_;
};

// One trie per tokenizer, shared by the requests that use it (built on first use, rebuilt when
// the model changes). Thread-safe.
class TokenTrieCache {
 public:
  std::shared_ptr<const TokenTrie> get(const Tokenizer& tokenizer);

 private:
  std::mutex mutex_;
  const Tokenizer* tokenizer_ = nullptr;
  std::shared_ptr<const TokenTrie> trie_;
};

}  // namespace hearth::constrain
