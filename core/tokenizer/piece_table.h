#pragma once
// Text -> token id lookup for the tokenizers' inner loops: open addressing over a flat array of
// (hash tag, id) slots, so a lookup touches one or two cache lines instead of chasing the nodes
// of a std::unordered_map. The texts themselves stay in the vocabulary (views must outlive this).
#include <cstdint>
#include <string_view>
#include <vector>

namespace hearth {

// FNV-1a, 64-bit: short keys (tokens are a few bytes), good enough spread for power-of-two tables.
inline uint64_t hash_piece(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  return h ^ (h >> 29);
}

struct PieceHash {
  size_t operator()(std::string_view s) const { return static_cast<size_t>(hash_piece(s)); }
};

class PieceTable {
 public:
  // Adds `text` -> `id` unless `text` is present (the first id wins).
  void insert(std::string_view text, int32_t id);
  // The id of `text`, or -1.
  int32_t find(std::string_view text) const;
  size_t size() const { return texts_.size(); }
  void clear() {
    slots_.clear();
    texts_.clear();
    ids_.clear();
  }

 private:
  struct Slot {
    uint32_t tag = 0;     // high hash bits, to skip most string compares
    int32_t entry = -1;   // index into texts_/ids_, -1 when empty
  };
  void grow();

  std::vector<Slot> slots_;  // size: a power of two, at most half full
  std::vector<std::string_view> texts_;
  std::vector<int32_t> ids_;
};

}  // namespace hearth
