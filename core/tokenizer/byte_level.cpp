#include "core/tokenizer/byte_level.h"

#include "core/tokenizer/utf8.h"

namespace hearth {

ByteLevelMap::ByteLevelMap() {
  byte_of_codepoint_.fill(-1);
  uint32_t next_extra = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const uint32_t cp = printable ? b : next_extra++;
    utf8::append_codepoint(byte_chars_[b], cp);
    byte_of_codepoint_[cp] = static_cast<int16_t>(b);
  }
}

void ByteLevelMap::encode(std::string_view bytes, std::string& out) const {
  for (char c : bytes) out += byte_chars_[static_cast<uint8_t>(c)];
}

std::string ByteLevelMap::decode(std::string_view text) const {
  std::string bytes;
  bytes.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const size_t n = utf8::valid_sequence_length(text, pos);
    if (n == 0) {
      bytes.push_back(text[pos++]);
      continue;
    }
    const uint32_t cp = utf8::decode_sequence(text, pos, n);
    if (cp < byte_of_codepoint_.size() && byte_of_codepoint_[cp] >= 0) {
      bytes.push_back(static_cast<char>(byte_of_codepoint_[cp]));
    } else {
      bytes.append(text.substr(pos, n));
    }
    pos += n;
  }
  return bytes;
}

}  // namespace hearth
