#pragma once
// GPT-2's reversible byte <-> character mapping: byte-level BPE vocabularies spell every byte as
// a printable character ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF stand for themselves; the other
// 68 bytes become U+0100.. in byte order, so ' ' is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace hearth {

class ByteLevelMap {
 public:
  ByteLevelMap();

  // UTF-8 of the character that stands for `byte`.
  const std::string& char_of(uint8_t byte) const { return byte_chars_[byte]; }
  // Appends the characters for each byte of `bytes`.
  void encode(std::string_view bytes, std::string& out) const;
  // The bytes a byte-level token text stands for; characters outside the mapping are kept as
  // their UTF-8 (added tokens are often stored as plain text).
  std::string decode(std::string_view text) const;

 private:
  std::array<std::string, 256> byte_chars_;
  std::array<int16_t, 324> byte_of_codepoint_;  // -1: not a mapped character; 256 + 68 code points
};

}  // namespace hearth
