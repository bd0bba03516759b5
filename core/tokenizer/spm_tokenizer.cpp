#include "core/tokenizer/spm_tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <unordered_map>

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

// True when `piece` has U+2581 right after a character that is not U+2581 itself.
bool has_inner_space(std::string_view piece) {
  for (size_t at = piece.find(kSpace, 1); at != std::string_view::npos; at = piece.find(kSpace, at + 1)) {
    if (at < kSpace.size() || piece.substr(at - kSpace.size(), kSpace.size()) != kSpace) return true;
  }
  return false;
}

}  // namespace

// Per-call buffers (encode is const and may run on several threads at once).
struct SpmTokenizer::Workspace {
  struct Symbol {
    uint32_t start;   // byte offset in the chunk
    uint32_t length;  // 0 once merged into its left neighbour
    int32_t prev;
    int32_t next;
  };
  struct Pair {
    float score;
    int32_t left;
    int32_t right;
    uint32_t length;  // bytes of the merged piece; a mismatch later means the pair is stale
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
  // Word cache of one fragment: word (a view into `normalized`) -> index into word_spans, which
  // holds (offset, count) in cached_ids.
  PieceTable words;
  std::vector<std::pair<size_t, size_t>> word_spans;
  std::vector<TokenId> cached_ids;
};

SpmTokenizer::SpmTokenizer(Vocabulary vocab, bool split_words) : vocab_(std::move(vocab)), specials_(vocab_) {
  byte_tokens_.fill(-1);
  bool inner_space = false;
  for (TokenId id = 0; id < vocab_.size(); ++id) {
    const std::string_view text = vocab_.tokens[id];
    const TokenType type = vocab_.type_of(id);
    all_pieces_.insert(text, id);  // first id wins for duplicated texts
    if (type == TokenType::kNormal || type == TokenType::kUserDefined || type == TokenType::kUnused) {
      mergeable_.insert(text, id);
      inner_space = inner_space || has_inner_space(text);
    }
    if (type == TokenType::kByte) {
      const int byte = parse_byte_token(text);
      if (byte >= 0 && byte_tokens_[byte] < 0) {
        byte_tokens_[byte] = id;
        has_byte_tokens_ = true;
      }
    }
  }
  split_before_space_ = split_words && !inner_space;
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
  // Chunks start at each U+2581 that follows a character other than U+2581. Words repeat, so
  // each distinct short word of this fragment is merged once.
  ws.words.clear();
  ws.word_spans.clear();
  ws.cached_ids.clear();
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
    ws.words.insert(word, static_cast<int32_t>(ws.word_spans.size()));
    ws.word_spans.emplace_back(ws.cached_ids.size(), out.size() - before);
    ws.cached_ids.insert(ws.cached_ids.end(), out.begin() + static_cast<std::ptrdiff_t>(before), out.end());
  };
  size_t chunk_start = 0;
  for (size_t at = all.find(kSpace, 1); at != std::string_view::npos; at = all.find(kSpace, at + 1)) {
    if (all.substr(at - kSpace.size(), kSpace.size()) == kSpace) continue;
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
  const TokenId id = mergeable_.find(merged);
  if (id < 0) return;
  ws.heap.push_back({vocab_.score_of(id), left, right, static_cast<uint32_t>(merged.size())});
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
                       pos + n < chunk.size() ? index + 1 : -1});
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
  if (const TokenId id = mergeable_.find(piece); id >= 0) {
    if (vocab_.type_of(id) == TokenType::kUnused) {
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
