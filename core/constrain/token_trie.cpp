#include "core/constrain/token_trie.h"

#include <algorithm>
#include <numeric>

namespace hearth::constrain {

namespace {

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  return h;
}

}  // namespace

uint64_t TokenTrie::fingerprint(const Tokenizer& tok) {
  const int32_t n = tok.vocab_size();
  uint64_t h = mix(mix(mix(0, static_cast<uint64_t>(n)), static_cast<uint64_t>(tok.bos() + 1)), static_cast<uint64_t>(tok.eos() + 1));
  for (int32_t k = 0; k < 16 && n > 0; ++k) {
    const auto id = static_cast<TokenId>((static_cast<int64_t>(n - 1) * k) / 15);
    for (unsigned char c : tok.token_to_piece(id)) h = mix(h, c);
  }
  return h;
}

TokenTrie::TokenTrie(const Tokenizer& tok) : vocab_size_(std::max(0, tok.vocab_size())), fingerprint_(fingerprint(tok)) {
  const auto n = static_cast<size_t>(vocab_size_);
  pieces_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const auto id = static_cast<TokenId>(i);
    if (tok.is_end_of_generation(id)) end_of_generation_.push_back(id);
    else pieces_[i] = tok.token_to_piece(id);
  }
  for (size_t i = 0; i < n; ++i)
    if (!pieces_[i].empty()) sorted_ids_.push_back(static_cast<TokenId>(i));
  std::sort(sorted_ids_.begin(), sorted_ids_.end(), [&](TokenId a, TokenId b) {
    const std::string& pa = pieces_[static_cast<size_t>(a)];
    const std::string& pb = pieces_[static_cast<size_t>(b)];
    return pa != pb ? pa < pb : a < b;
  });

  // Sorted insertion: the current path is the previous piece's nodes; a piece shares its longest
  // common prefix with the previous one, and its new nodes are the last children of their parents.
  nodes_.emplace_back();
  std::vector<uint32_t> path = {0};       // path[d]: the node for the first d bytes
  std::vector<uint32_t> last_child = {kNone};
  const std::string* previous = nullptr;
  for (uint32_t at = 0; at < sorted_ids_.size(); ++at) {
    const std::string& p = pieces_[static_cast<size_t>(sorted_ids_[at])];
    size_t common = 0;
    if (previous)
      while (common < p.size() && common < previous->size() && p[common] == (*previous)[common]) ++common;
    path.resize(common + 1);
    for (size_t d = common; d < p.size(); ++d) {
      const auto index = static_cast<uint32_t>(nodes_.size());
      Node node;
      node.byte = static_cast<uint8_t>(p[d]);
      nodes_.push_back(node);
      last_child.push_back(kNone);
      const uint32_t parent = path[d];
      if (last_child[parent] == kNone) nodes_[parent].first_child = index;
      else nodes_[last_child[parent]].next_sibling = index;
      last_child[parent] = index;
      path.push_back(index);
    }
    Node& end = nodes_[path[p.size()]];
    if (end.tokens_end == end.tokens_begin) end.tokens_begin = at;  // first token ending here
    end.tokens_end = at + 1;
    previous = &p;
  }
}

std::shared_ptr<const TokenTrie> TokenTrieCache::get(const Tokenizer& tokenizer) {
  const uint64_t print = TokenTrie::fingerprint(tokenizer);
  std::lock_guard lock(mutex_);
  if (!trie_ || tokenizer_ != &tokenizer || trie_->fingerprint() != print) {
    trie_ = std::make_shared<const TokenTrie>(tokenizer);
    tokenizer_ = &tokenizer;
  }
  return trie_;
}

}  // namespace hearth::constrain
