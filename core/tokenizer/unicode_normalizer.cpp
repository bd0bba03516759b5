#include "core/tokenizer/unicode_normalizer.h"

#include "core/common/error.h"
#include "core/tokenizer/utf8.h"

#ifdef HEARTH_HAVE_ICU
#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>
#endif

namespace hearth {

#ifdef HEARTH_HAVE_ICU
namespace {

const icu::Normalizer2* nfc_of(const void* impl) { return static_cast<const icu::Normalizer2*>(impl); }

// Appends the NFC form of the well-formed UTF-8 run `run` to `out`.
void append_normalized(const icu::Normalizer2& nfc, std::string_view run, std::string& out) {
  UErrorCode status = U_ZERO_ERROR;
  icu::StringByteSink<std::string> sink(&out);
  nfc.normalizeUTF8(0, icu::StringPiece(run.data(), static_cast<int32_t>(run.size())), sink, nullptr, status);
  if (U_FAILURE(status)) throw Error(std::string("tokenizer: NFC normalization failed: ") + u_errorName(status));
}

bool is_normalized(const icu::Normalizer2& nfc, std::string_view run) {
  UErrorCode status = U_ZERO_ERROR;
  const bool yes = nfc.isNormalizedUTF8(icu::StringPiece(run.data(), static_cast<int32_t>(run.size())), status);
  return U_SUCCESS(status) && yes;
}

}  // namespace

NfcNormalizer::NfcNormalizer() {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  if (U_SUCCESS(status)) impl_ = nfc;
}

std::string_view NfcNormalizer::normalize(std::string_view text, std::string& storage) const {
  if (impl_ == nullptr) return text;
  // ASCII is always NFC; most text is ASCII or already normalized.
  size_t first_non_ascii = 0;
  while (first_non_ascii < text.size() && static_cast<uint8_t>(text[first_non_ascii]) < 0x80) ++first_non_ascii;
  if (first_non_ascii == text.size()) return text;
  // ICU's StringPiece takes int32 lengths.
  if (text.size() > (size_t{1} << 30)) throw Error("tokenizer: text longer than 1 GiB");
  const icu::Normalizer2& nfc = *nfc_of(impl_);
  if (utf8::is_valid(text) && is_normalized(nfc, text)) return text;
  storage.clear();
  storage.reserve(text.size() + 16);
  size_t run_start = 0;
  for (size_t pos = 0; pos < text.size();) {
    const size_t n = utf8::valid_sequence_length(text, pos);
    if (n > 0) {
      pos += n;
      continue;
    }
    append_normalized(nfc, text.substr(run_start, pos - run_start), storage);
    storage.push_back(text[pos]);  // an ill-formed byte: kept for the byte-level model
    run_start = ++pos;
  }
  append_normalized(nfc, text.substr(run_start), storage);
  return storage;
}

#else

NfcNormalizer::NfcNormalizer() = default;

std::string_view NfcNormalizer::normalize(std::string_view text, std::string&) const { return text; }

#endif

}  // namespace hearth
