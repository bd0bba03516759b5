#include "core/tokenizer/utf8.h"

#include "core/tokenizer/tokenizer.h"

namespace hearth::utf8 {
namespace {

bool in_range(uint8_t b, uint8_t lo, uint8_t hi) { return b >= lo && b <= hi; }

}  // namespace

Scan scan_sequence(std::string_view s, size_t pos) {
  const auto lead = static_cast<uint8_t>(s[pos]);
  if (lead < 0x80) return {ScanKind::kComplete, 1};
  // Number of continuation bytes and the allowed range of the first one (table 3-7).
  size_t continuation = 0;
  uint8_t first_lo = 0x80, first_hi = 0xBF;
  if (in_range(lead, 0xC2, 0xDF)) {
    continuation = 1;
  } else if (lead == 0xE0) {
    continuation = 2, first_lo = 0xA0;
  } else if (lead == 0xED) {
    continuation = 2, first_hi = 0x9F;
  } else if (in_range(lead, 0xE1, 0xEF)) {
    continuation = 2;
  } else if (lead == 0xF0) {
    continuation = 3, first_lo = 0x90;
  } else if (lead == 0xF4) {
    continuation = 3, first_hi = 0x8F;
  } else if (in_range(lead, 0xF1, 0xF3)) {
    continuation = 3;
  } else {
    return {ScanKind::kInvalid, 1};  // 80..C1, F5..FF never start a sequence
  }
  for (size_t i = 1; i <= continuation; ++i) {
    if (pos + i >= s.size()) return {ScanKind::kIncomplete, i};
    const auto b = static_cast<uint8_t>(s[pos + i]);
    const bool ok = i == 1 ? in_range(b, first_lo, first_hi) : in_range(b, 0x80, 0xBF);
    if (!ok) return {ScanKind::kInvalid, i};
  }
  return {ScanKind::kComplete, continuation + 1};
}

uint32_t decode_sequence(std::string_view s, size_t pos, size_t length) {
  const auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(s[pos + i])); };
  switch (length) {
    case 1: return byte(0);
    case 2: return ((byte(0) & 0x1F) << 6) | (byte(1) & 0x3F);
    case 3: return ((byte(0) & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) | (byte(2) & 0x3F);
    default:
      return ((byte(0) & 0x07) << 18) | ((byte(1) & 0x3F) << 12) | ((byte(2) & 0x3F) << 6) | (byte(3) & 0x3F);
  }
}

void append_codepoint(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_valid(std::string_view s) {
  for (size_t pos = 0; pos < s.size();) {
    const size_t n = valid_sequence_length(s, pos);
    if (n == 0) return false;
    pos += n;
  }
  return true;
}

std::string sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) {
    const Scan scan = scan_sequence(s, pos);
    if (scan.kind == ScanKind::kComplete) {
      out.append(s.substr(pos, scan.length));
    } else {
      out.append(kReplacementChar);  // an incomplete tail is a maximal subpart too
    }
    pos += scan.length;
  }
  return out;
}

}  // namespace hearth::utf8

namespace hearth {

std::string Utf8StreamDecoder::push(std::string_view bytes) {
  // pending_ only ever holds the valid prefix of one sequence (at most 3 bytes).
  pending_.append(bytes);
  std::string out;
  out.reserve(pending_.size());
  size_t pos = 0;
  while (pos < pending_.size()) {
    const utf8::Scan scan = utf8::scan_sequence(pending_, pos);
    if (scan.kind == utf8::ScanKind::kIncomplete) break;
    if (scan.kind == utf8::ScanKind::kComplete) {
      out.append(pending_, pos, scan.length);
    } else {
      out.append(utf8::kReplacementChar);
    }
    pos += scan.length;
  }
  pending_.erase(0, pos);
  return out;
}

std::string Utf8StreamDecoder::flush() {
  std::string out = pending_.empty() ? std::string() : std::string(utf8::kReplacementChar);
  pending_.clear();
  return out;
}

}  // namespace hearth
