#pragma once
// Text <-> token ids, built from a GGUF file's tokenizer.ggml.* metadata.
//   "llama": SentencePiece-style (scores, byte fallback <0xXX>, dummy-prefix space, U+2581 for space)
//   "gpt2":  byte-level BPE with merge ranks and a pre-tokenizer regex chosen by tokenizer.ggml.pre
// Special-token strings in user text are plain text unless the caller says the text is trusted
// template text (parse_special), so user input can never inject control tokens. User-defined
// (Hugging Face "special": false) added tokens such as "<think>" stand for their own text and are
// always cut out, as Hugging Face and llama.cpp do.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::gguf {
class GgufFile;
}

namespace hearth {

using TokenId = int32_t;

class Tokenizer {
 public:
  // Throws hearth::FormatError on missing or inconsistent metadata (ids outside the vocabulary,
  // mismatched array lengths, an unknown tokenizer model or pre-tokenizer).
  static std::unique_ptr<Tokenizer> from_gguf(const gguf::GgufFile& file);
  virtual ~Tokenizer() = default;

  // add_bos: put BOS first (when the model has one; callers usually pass add_bos_by_default()),
  // and, for models whose tokenizer.ggml.add_eos_token is set, EOS last. parse_special: the text
  // is trusted template text, so control token texts in it become those tokens.
  virtual std::vector<TokenId> encode(std::string_view text, bool add_bos, bool parse_special) const = 0;
  // The bytes this token stands for (a byte token gives its single byte; a control token gives
  // its text only when `render_special`). May be a partial UTF-8 sequence.
  virtual std::string token_to_piece(TokenId id, bool render_special = false) const = 0;
  // Concatenated pieces, with the SentencePiece leading space of the first token removed.
  virtual std::string decode(const std::vector<TokenId>& ids, bool render_special = false) const = 0;

  virtual int32_t vocab_size() const = 0;
  virtual TokenId bos() const = 0;          // -1 when the model has none
  virtual TokenId eos() const = 0;
  virtual bool add_bos_by_default() const = 0;
  virtual bool is_end_of_generation(TokenId id) const = 0;  // eos, eot, eom, ...
};

// Streaming-safe text out of generated tokens: holds back an incomplete UTF-8 sequence until it
// completes; bytes that can never form a valid sequence come out as U+FFFD.
class Utf8StreamDecoder {
 public:
  std::string push(std::string_view bytes);  // returns the text that is complete now
  std::string flush();                        // at the end: pending bytes as U+FFFD

 private:
  std::string pending_;
};

}  // namespace hearth
