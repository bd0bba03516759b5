#include "core/tokenizer/spm_tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <unordered_map>
#include <unordered_set>

#include "core/common/error.h"
#include "core/tokenizer/utf8.h"

namespace hearth {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK
constexpr size_t kMaxCachedWordBytes = 64;
constexpr std::string_view kUnknownSurface = " \xE2\x81\x87 ";  // " ⁇ ", as SentencePiece decodes <unk>

// "<0x41>" -> 0x41; -1 when the text is not a byte token's.
int parse_byte_token(std::string_view text) {
  if (text.size() != 6 || !text.starts_with("<0x") || text[5] != '>') return -1;
  int value = 0;
  for (char c : text.substr(3, 2)) {
    value *= 16;
    if (c >= '0' && c <= '9') value += c - '0';
    else if (c >= 'A' && c <= 'F') value += c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') value += c - 'a' + 10;
    else return -1;
  }
  return value;
}

// Adds the code point of each character of `piece` that is followed by U+2581 while not being
// U+2581 itself: a merge may join a word to the next one only right after such a character.
void add_chars_before_inner_space(std::string_view piece, std::unordered_set<uint32_t>& out) {
  for (size_t at = piece.find(kSpace, 1); at != std::string_view::npos; at = piece.find(kSpace, at + 1)) {
    size_t start = at;
    do --start;
    while (start > 0 && (static_cast<uint8_t>(piece[start]) & 0xC0) == 0x80);
    const size_t n = utf8::valid_sequence_length(piece, start);
    if (n != at - start) continue;  // not a whole character (ill-formed piece): cannot follow from text
    if (piece.substr(start, n) == kSpace) continue;
    out.insert(utf8::decode_sequence(piece, start, n));
  }
}

}  // namespace

// Per-call buffers (encode is const and may run on several threads at once).
struct SpmTokenizer::Workspace {
  struct Symbol {
    uint32_t start;   // byte offset in the chunk
    uint32_t length;  // 0 once merged into its left neighbour
    int32_t prev;
    int32_t next;
    TokenId id;  // rank mode: the piece's id, -1 when it is not a piece
  };
  struct Pair {
    float score;
    int32_t left;
    int32_t right;
    uint32_t length;  // bytes of the merged piece; a mismatch later means the pair is stale
    TokenId result;   // rank mode: the merged piece's id
  };
  // Heap order: highest score first, then leftmost.
  static bool worse(const Pair& a, const Pair& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
  std::string normalized;
  std::vector<Symbol> symbols;
  std::vector<Pair> heap;
  // Unused pieces are split back into the two parts that formed them (SentencePiece "resegment").
  std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>, PieceHash> unused_parts;
  // Word cache of one encode() call (all its fragments): word (a view into word_texts, whose
  // elements never move) -> index into word_spans, which holds (offset, count) in cached_ids.
  std::deque<std::string> word_texts;
  PieceTable words;
  std::vector<std::pair<size_t, size_t>> word_spans;
  std::vector<TokenId> cached_ids;
};

SpmTokenizer::SpmTokenizer(Vocabulary vocab, bool split_words) : vocab_(std::move(vocab)), specials_(vocab_) {
  byte_tokens_.fill(-1);
  for (TokenId id = 0; id < vocab_.size(); ++id) {
    const std::string_view text = vocab_.tokens[id];
    const TokenType type = vocab_.type_of(id);
    all_pieces_.insert(text, id);  // first id wins for duplicated texts
    if (type == TokenType::kNormal || type == TokenType::kUserDefined || type == TokenType::kUnused) {
      mergeable_.insert(text, id);
      add_chars_before_inner_space(text, chars_before_inner_space_);
    }
    if (type == TokenType::kByte) {
      const int byte = parse_byte_token(text);
      if (byte >= 0 && byte_tokens_[byte] < 0) {
        byte_tokens_[byte] = id;
        has_byte_tokens_ = true;
      }
    }
  }
  split_before_space_ = split_words;
  by_rank_ = !vocab_.merges.empty();
  pair_ranks_.reserve(vocab_.merges.size());
  for (size_t rank = 0; rank < vocab_.merges.size(); ++rank) {
    const std::string_view merge = vocab_.merges[rank];
    // "left right"; a piece may itself hold a space, so take the first space that splits the
    // merge into two pieces whose concatenation is a piece.
    bool found = false;
    for (size_t at = merge.find(' '); at != std::string_view::npos && !found; at = merge.find(' ', at + 1)) {
      const std::string_view left = merge.substr(0, at), right = merge.substr(at + 1);
      const TokenId l = all_pieces_.find(left), r = all_pieces_.find(right);
      if (l < 0 || r < 0) continue;
      const std::string joined = std::string(left) + std::string(right);
      if (all_pieces_.find(joined) < 0) continue;
      add_chars_before_inner_space(joined, chars_before_inner_space_);  // any merge result counts here
      pair_ranks_.emplace(rank_key(l, r), RankedMerge{static_cast<int32_t>(rank), all_pieces_.find(joined)});  // a repeated pair keeps its best rank
      found = true;
    }
    if (!found) {
      throw FormatError("tokenizer: merge " + std::to_string(rank) + " \"" + std::string(merge) +
                        "\" does not join two pieces into a piece");
    }
  }
}

std::vector<TokenId> SpmTokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos && vocab_.bos >= 0) out.push_back(vocab_.bos);
  Workspace ws;
  // The dummy prefix goes at the start and after each special token, as llama.cpp does.
  bool after_special = true;
  for (const TextFragment& fragment : specials_.split(text, parse_special)) {
    if (fragment.token >= 0) {
      out.push_back(fragment.token);
      after_special = true;
      continue;
    }
    encode_fragment(fragment.text, vocab_.add_space_prefix && after_special, ws, out);
    after_special = false;
  }
  if (add_bos && vocab_.add_eos && vocab_.eos >= 0) out.push_back(vocab_.eos);  // the model's framing
  return out;
}

void SpmTokenizer::encode_fragment(std::string_view text, bool add_prefix, Workspace& ws,
                                   std::vector<TokenId>& out) const {
  if (text.empty()) return;  // SentencePiece adds no dummy prefix to empty input
  // Symbol offsets are 32-bit; U+FFFD triples an ill-formed byte, so stay well below 4 GiB.
  if (text.size() > (size_t{1} << 30)) throw Error("tokenizer: text longer than 1 GiB");
  std::string& norm = ws.normalized;
  norm.clear();
  norm.reserve(text.size() + text.size() / 4 + 3);
  if (add_prefix) norm.append(kSpace);
  for (size_t pos = 0; pos < text.size();) {
    if (text[pos] == ' ') {
      norm.append(kSpace);
      ++pos;
      continue;
    }
    const size_t n = utf8::valid_sequence_length(text, pos);
    if (n == 0) {
      norm.append(utf8::kReplacementChar);  // SentencePiece: one U+FFFD per ill-formed byte
      ++pos;
    } else {
      norm.append(text.substr(pos, n));
      pos += n;
    }
  }
  const std::string_view all = norm;
  if (!split_before_space_) {
    encode_chunk(all, ws, out);
    return;
  }
  // Chunks start at each U+2581 that follows a character other than U+2581 (and not one of
  // chars_before_inner_space_). Words repeat, so each distinct short word of the whole text
  // is merged once.
  const auto encode_word = [&](std::string_view word) {
    if (word.size() > kMaxCachedWordBytes) {
      encode_chunk(word, ws, out);
      return;
    }
    if (const int32_t known = ws.words.find(word); known >= 0) {
      const auto [offset, count] = ws.word_spans[known];
      const auto first = ws.cached_ids.begin() + static_cast<std::ptrdiff_t>(offset);
      out.insert(out.end(), first, first + static_cast<std::ptrdiff_t>(count));
      return;
    }
    const size_t before = out.size();
    encode_chunk(word, ws, out);
    ws.word_texts.emplace_back(word);
    ws.words.insert(ws.word_texts.back(), static_cast<int32_t>(ws.word_spans.size()));
    ws.word_spans.emplace_back(ws.cached_ids.size(), out.size() - before);
    ws.cached_ids.insert(ws.cached_ids.end(), out.begin() + static_cast<std::ptrdiff_t>(before), out.end());
  };
  size_t chunk_start = 0;
  for (size_t at = all.find(kSpace, 1); at != std::string_view::npos; at = all.find(kSpace, at + 1)) {
    // (Without a dummy prefix the text may start with a character shorter than U+2581.)
    if (at >= kSpace.size() && all.substr(at - kSpace.size(), kSpace.size()) == kSpace) continue;
    if (!chars_before_inner_space_.empty()) {
      size_t start = at;
      do --start;
      while (start > 0 && (static_cast<uint8_t>(all[start]) & 0xC0) == 0x80);
      if (chars_before_inner_space_.count(utf8::decode_sequence(all, start, at - start)) > 0) continue;
    }
    encode_word(all.substr(chunk_start, at - chunk_start));
    chunk_start = at;
  }
  encode_word(all.substr(chunk_start));
}

void SpmTokenizer::try_add_pair(std::string_view chunk, int32_t left, int32_t right, Workspace& ws) const {
  if (left < 0 || right < 0) return;
  const auto& l = ws.symbols[left];
  const auto& r = ws.symbols[right];
  const std::string_view merged = chunk.substr(l.start, l.length + r.length);
  if (by_rank_) {
    if (l.id < 0 || r.id < 0) return;
    const auto it = pair_ranks_.find(rank_key(l.id, r.id));
    if (it == pair_ranks_.end()) return;
    // Ranks stay below 2^24 (checked by the GGUF limits), so the float is exact.
    ws.heap.push_back({-static_cast<float>(it->second.rank), left, right, static_cast<uint32_t>(merged.size()),
                       it->second.result});
    std::push_heap(ws.heap.begin(), ws.heap.end(), Workspace::worse);
    return;
  }
  const TokenId id = mergeable_.find(merged);
  if (id < 0) return;
  ws.heap.push_back({vocab_.score_of(id), left, right, static_cast<uint32_t>(merged.size()), id});
  std::push_heap(ws.heap.begin(), ws.heap.end(), Workspace::worse);
  if (vocab_.type_of(id) == TokenType::kUnused) {
    ws.unused_parts[vocab_.tokens[id]] = {chunk.substr(l.start, l.length), chunk.substr(r.start, r.length)};
  }
}

void SpmTokenizer::encode_chunk(std::string_view chunk, Workspace& ws, std::vector<TokenId>& out) const {
  if (chunk.empty()) return;
  auto& symbols = ws.symbols;
  symbols.clear();
  ws.heap.clear();
  ws.unused_parts.clear();
  // The chunk is well-formed UTF-8 (normalized), so every character has a valid length.
  for (size_t pos = 0; pos < chunk.size();) {
    const size_t n = std::max<size_t>(1, utf8::valid_sequence_length(chunk, pos));
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({static_cast<uint32_t>(pos), static_cast<uint32_t>(n), index - 1,
                       pos + n < chunk.size() ? index + 1 : -1, by_rank_ ? all_pieces_.find(chunk.substr(pos, n)) : -1});
    pos += n;
  }
  for (size_t i = 1; i < symbols.size(); ++i) try_add_pair(chunk, static_cast<int32_t>(i - 1), static_cast<int32_t>(i), ws);

  while (!ws.heap.empty()) {
    std::pop_heap(ws.heap.begin(), ws.heap.end(), Workspace::worse);
    const Workspace::Pair top = ws.heap.back();
    ws.heap.pop_back();
    auto& left = symbols[top.left];
    auto& right = symbols[top.right];
    // Stale: one side was merged away or has grown since the pair was queued.
    if (left.length == 0 || right.length == 0 || left.length + right.length != top.length) continue;
    left.length += right.length;
    left.id = top.result;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    try_add_pair(chunk, left.prev, top.left, ws);
    try_add_pair(chunk, top.left, left.next, ws);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) {
    emit_symbol(chunk.substr(symbols[i].start, symbols[i].length), ws, out);
  }
}

void SpmTokenizer::emit_symbol(std::string_view piece, Workspace& ws, std::vector<TokenId>& out) const {
  if (const TokenId id = by_rank_ ? all_pieces_.find(piece) : mergeable_.find(piece); id >= 0) {
    if (vocab_.type_of(id) == TokenType::kUnused && !by_rank_) {
      if (const auto parts = ws.unused_parts.find(piece); parts != ws.unused_parts.end()) {
        const auto [l, r] = parts->second;  // copy: the recursion may rehash the map
        emit_symbol(l, ws, out);
        emit_symbol(r, ws, out);
        return;
      }
    }
    out.push_back(id);
    return;
  }
  if (const TokenId id = all_pieces_.find(piece); id >= 0) {
    out.push_back(id);
    return;
  }
  if (!has_byte_tokens_) {
    if (vocab_.unk >= 0) out.push_back(vocab_.unk);
    return;
  }
  for (char c : piece) {
    const TokenId id = byte_tokens_[static_cast<uint8_t>(c)];
    if (id >= 0) out.push_back(id);
    else if (vocab_.unk >= 0) out.push_back(vocab_.unk);
  }
}

std::string SpmTokenizer::token_to_piece(TokenId id, bool render_special) const {
  if (id < 0 || id >= vocab_.size()) return {};
  const std::string& text = vocab_.tokens[id];
  switch (vocab_.type_of(id)) {
    case TokenType::kControl:
      return render_special ? text : std::string();
    case TokenType::kUnknown:
      return render_special ? text : std::string(kUnknownSurface);
    case TokenType::kByte: {
      const int byte = parse_byte_token(text);
      if (byte >= 0) return std::string(1, static_cast<char>(byte));
      return text;
    }
    default:
      break;
  }
  std::string piece;
  piece.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    if (std::string_view(text).substr(pos).starts_with(kSpace)) {
      piece.push_back(' ');
      pos += kSpace.size();
    } else {
      piece.push_back(text[pos++]);
    }
  }
  return piece;
}

std::string SpmTokenizer::decode(const std::vector<TokenId>& ids, bool render_special) const {
  std::string text;
  bool first = true;  // the first token that shows anything loses its dummy-prefix space
  for (TokenId id : ids) {
    std::string piece = token_to_piece(id, render_special);
    if (piece.empty()) continue;
    if (first && vocab_.add_space_prefix && piece[0] == ' ' && id >= 0 && id < vocab_.size()) {
      const TokenType type = vocab_.type_of(id);
      if (type == TokenType::kNormal || type == TokenType::kUserDefined || type == TokenType::kUnused) {
        piece.erase(0, 1);
      }
    }
    first = false;
    text += piece;
  }
  return text;
}

}  // namespace hearth
