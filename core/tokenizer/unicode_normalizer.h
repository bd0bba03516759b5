#pragma once
// Unicode normalization form C for the tokenizers whose Hugging Face normalizer is "NFC" (Qwen).
// ICU does the work when Hearth is built with it (icu-uc); otherwise text passes unchanged and
// available() is false. Ill-formed UTF-8 bytes are passed through as they are; only the
// well-formed runs between them are normalized.
#include <string>
#include <string_view>

namespace hearth {

class NfcNormalizer {
 public:
  NfcNormalizer();

  bool available() const { return impl_ != nullptr; }
  // The NFC form of `text`: `text` itself when it is already normalized (the common case, found
  // without copying), else a view of `storage`, which receives the normalized bytes.
  std::string_view normalize(std::string_view text, std::string& storage) const;

 private:
  const void* impl_ = nullptr;  // icu::Normalizer2, owned by ICU (a process-wide immutable table)
};

}  // namespace hearth
