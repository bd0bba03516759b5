#include "core/tokenizer/piece_table.h"

namespace hearth {

void PieceTable::grow() {
  const size_t capacity = slots_.empty() ? 64 : slots_.size() * 2;
  slots_.assign(capacity, Slot{});
  const size_t mask = capacity - 1;
  for (size_t entry = 0; entry < texts_.size(); ++entry) {
    const uint64_t h = hash_piece(texts_[entry]);
    size_t i = h & mask;
    while (slots_[i].entry >= 0) i = (i + 1) & mask;
    slots_[i] = {static_cast<uint32_t>(h >> 32), static_cast<int32_t>(entry)};
  }
}

void PieceTable::insert(std::string_view text, int32_t id) {
  if (find(text) >= 0) return;
  if ((texts_.size() + 1) * 2 > slots_.size()) {
    texts_.push_back(text);
    ids_.push_back(id);
    grow();  // rehashes everything, the new entry included
    return;
  }
  const uint64_t h = hash_piece(text);
  const size_t mask = slots_.size() - 1;
  size_t i = h & mask;
  while (slots_[i].entry >= 0) i = (i + 1) & mask;
  slots_[i] = {static_cast<uint32_t>(h >> 32), static_cast<int32_t>(texts_.size())};
  texts_.push_back(text);
  ids_.push_back(id);
}

int32_t PieceTable::find(std::string_view text) const {
  if (slots_.empty()) return -1;
  const uint64_t h = hash_piece(text);
  const auto tag = static_cast<uint32_t>(h >> 32);
  const size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.entry < 0) return -1;
    if (slot.tag == tag && texts_[slot.entry] == text) return ids_[slot.entry];
  }
}

}  // namespace hearth
