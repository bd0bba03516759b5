#include "core/tokenizer/bpe_tokenizer.h"

#include <algorithm>

#include "core/common/error.h"

namespace hearth {

bool BpeTokenizer::pre_ignores_merges(std::string_view pre) {
  return pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3" || pre == "gpt-4o";
}

BpeTokenizer::BpeTokenizer(Vocabulary vocab)
    : vocab_(std::move(vocab)), pre_tokenizer_(vocab_.pre), specials_(vocab_) {
  ignore_merges_ = pre_ignores_merges(vocab_.pre);
  for (TokenId id = 0; id < vocab_.size(); ++id) token_ids_.insert(vocab_.tokens[id], id);
  for (int b = 0; b < 256; ++b) byte_ids_[b] = token_ids_.find(byte_map_.char_of(static_cast<uint8_t>(b)));
  merges_.reserve(vocab_.merges.size());
  for (size_t rank = 0; rank < vocab_.merges.size(); ++rank) {
    const std::string_view merge = vocab_.merges[rank];
    // Byte-level token texts have no ' ' (it is spelled 'Ġ'), but be lenient: take the first
    // space at which both sides and their concatenation are tokens.
    bool found = false;
    for (size_t at = merge.find(' '); at != std::string_view::npos && !found; at = merge.find(' ', at + 1)) {
      const std::string_view left = merge.substr(0, at), right = merge.substr(at + 1);
      const TokenId l = token_ids_.find(left), r = token_ids_.find(right);
      if (l < 0 || r < 0) continue;
      const TokenId joined = token_ids_.find(std::string(left) + std::string(right));
      if (joined < 0) continue;
      // A repeated pair keeps its first (best) rank.
      merges_.emplace(pair_key(l, r), Merge{static_cast<int32_t>(rank), joined});
      found = true;
    }
    if (!found) {
      throw FormatError("tokenizer: merge " + std::to_string(rank) + " \"" + std::string(merge) +
                        "\" does not join two tokens into a token");
    }
  }
}

std::vector<TokenId> BpeTokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos && vocab_.bos >= 0) out.push_back(vocab_.bos);
  std::string normalized;
  for (const TextFragment& fragment : specials_.split(text, parse_special)) {
    if (fragment.token >= 0) {
      out.push_back(fragment.token);
      continue;
    }
    const std::string_view plain =
        vocab_.normalization == Normalization::kNfc ? nfc_.normalize(fragment.text, normalized) : fragment.text;
    for (std::string_view word : pre_tokenizer_.split(plain)) encode_word(word, out);
  }
  if (add_bos && vocab_.add_eos && vocab_.eos >= 0) out.push_back(vocab_.eos);  // the model's framing
  return out;
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<TokenId>& out) const {
  const std::string key(word);
  {
    std::lock_guard lock(cache_mutex_);
    if (const auto it = cache_.find(key); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<TokenId> ids;
  merge_word(word, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard lock(cache_mutex_);
  if (cache_.size() >= kMaxCachedWords) cache_.clear();  // crude bound; words repeat a lot
  cache_.emplace(key, std::move(ids));
}

void BpeTokenizer::merge_word(std::string_view word, std::vector<TokenId>& out) const {
  std::string spelled;
  byte_map_.encode(word, spelled);
  if (ignore_merges_) {
    if (const TokenId id = token_ids_.find(spelled); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  // One symbol per byte, as a linked list; a heap of candidate merges (lowest rank, then leftmost).
  struct Symbol {
    TokenId id;  // -1: a byte the vocabulary lacks (never merges)
    int32_t prev, next;
  };
  struct Candidate {
    int32_t rank;
    int32_t left;
    TokenId left_id, right_id, result;
  };
  const auto worse = [](const Candidate& a, const Candidate& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    const auto index = static_cast<int32_t>(i);
    symbols.push_back({byte_ids_[static_cast<uint8_t>(word[i])], index - 1,
                       i + 1 < word.size() ? index + 1 : -1});
  }
  std::vector<Candidate> heap;
  const auto consider = [&](int32_t left) {
    if (left < 0 || symbols[left].next < 0) return;
    const TokenId l = symbols[left].id, r = symbols[symbols[left].next].id;
    if (l < 0 || r < 0) return;
    const auto it = merges_.find(pair_key(l, r));
    if (it == merges_.end()) return;
    heap.push_back({it->second.rank, left, l, r, it->second.result});
    std::push_heap(heap.begin(), heap.end(), worse);
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) consider(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), worse);
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& left = symbols[top.left];
    // Stale: the left symbol was merged away or changed, or its neighbour changed.
    if (left.id != top.left_id || left.next < 0 || symbols[left.next].id != top.right_id) continue;
    const int32_t right_index = left.next;
    Symbol& right = symbols[right_index];
    left.id = top.result;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    right.id = -2;  // dead
    consider(left.prev);
    consider(top.left);
  }
  for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
    if (symbols[i].id >= 0) out.push_back(symbols[i].id);
    else if (vocab_.unk >= 0) out.push_back(vocab_.unk);
  }
}

std::string BpeTokenizer::token_to_piece(TokenId id, bool render_special) const {
  if (id < 0 || id >= vocab_.size()) return {};
  const std::string& text = vocab_.tokens[id];
  switch (vocab_.type_of(id)) {
    case TokenType::kControl:
    case TokenType::kUnknown:
      return render_special ? text : std::string();
    case TokenType::kUserDefined:
      return text;  // added tokens are stored as the text they stand for
    default:
      return byte_map_.decode(text);
  }
}

std::string BpeTokenizer::decode(const std::vector<TokenId>& ids, bool render_special) const {
  std::string text;
  for (TokenId id : ids) text += token_to_piece(id, render_special);
  return text;
}

}  // namespace hearth
