// import_sentencepiece_model: SentencePiece's ModelProto (protobuf, proto2) -> Vocabulary.
// Only the fields a BPE vocabulary needs are read; everything else is skipped by wire type.
//   ModelProto:     1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec
//   SentencePiece:  1 piece (string), 2 score (float), 3 type (enum 1..6 = TokenType)
//   TrainerSpec:    3 model_type (1 unigram (default), 2 BPE, ...), 35 byte_fallback,
//                   40 unk_id (0), 41 bos_id (1), 42 eos_id (2), 43 pad_id (-1)
//   NormalizerSpec: 1 name, 3 add_dummy_prefix (true), 4 remove_extra_whitespaces (true),
//                   5 escape_whitespaces (true)
#include <cstring>

#include "core/common/checked_math.h"
#include "core/common/error.h"
#include "core/tokenizer/tokenizer_import.h"

namespace hearth {
namespace {

[[noreturn]] void fail(const std::string& message) { throw FormatError("SentencePiece model: " + message); }

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// A bounds-checked cursor over one protobuf message.
class ProtoReader {
 public:
  explicit ProtoReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  bool done() const { return pos_ >= bytes_.size(); }

  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= bytes_.size()) fail("truncated varint");
      const uint8_t byte = bytes_[pos_++];
      value |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    fail("varint longer than 10 bytes");
  }

  // Reads a field key: (field number, wire type).
  std::pair<uint32_t, uint32_t> key() {
    const uint64_t k = varint();
    if ((k >> 3) == 0 || (k >> 3) > UINT32_MAX) fail("bad field number");
    return {static_cast<uint32_t>(k >> 3), static_cast<uint32_t>(k & 7)};
  }

  std::span<const uint8_t> length_delimited() {
    const uint64_t length = varint();
    if (length > bytes_.size() - pos_) fail("a field runs past the end of its message");
    const auto field = bytes_.subspan(pos_, static_cast<size_t>(length));
    pos_ += static_cast<size_t>(length);
    return field;
  }

  float fixed32_float() {
    if (bytes_.size() - pos_ < 4) fail("truncated float");
    float value;
    std::memcpy(&value, bytes_.data() + pos_, 4);  // little-endian, as protobuf stores it
    pos_ += 4;
    return value;
  }

  void skip(uint32_t wire_type) {
    switch (wire_type) {
      case kVarint: varint(); return;
      case kFixed64: advance(8); return;
      case kLengthDelimited: length_delimited(); return;
      case kFixed32: advance(4); return;
      default: fail("unsupported wire type " + std::to_string(wire_type));
    }
  }

  // An int32 field: negative values are sign-extended to 64 bits on the wire.
  int64_t int32_value() { return static_cast<int64_t>(static_cast<int32_t>(static_cast<uint32_t>(varint()))); }

 private:
  void advance(size_t n) {
    if (bytes_.size() - pos_ < n) fail("truncated field");
    pos_ += n;
  }
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

void expect_wire(uint32_t got, uint32_t expected, const char* field) {
  if (got != expected) fail(std::string("field ") + field + " has the wrong wire type");
}

struct TrainerSpec {
  uint64_t model_type = 1;
  bool byte_fallback = false;
  int64_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
};

struct NormalizerSpec {
  std::string name;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

TrainerSpec read_trainer_spec(std::span<const uint8_t> bytes) {
  TrainerSpec spec;
  ProtoReader r(bytes);
  while (!r.done()) {
    const auto [field, wire] = r.key();
    switch (field) {
      case 3: expect_wire(wire, kVarint, "model_type"); spec.model_type = r.varint(); break;
      case 35: expect_wire(wire, kVarint, "byte_fallback"); spec.byte_fallback = r.varint() != 0; break;
      case 40: expect_wire(wire, kVarint, "unk_id"); spec.unk_id = r.int32_value(); break;
      case 41: expect_wire(wire, kVarint, "bos_id"); spec.bos_id = r.int32_value(); break;
      case 42: expect_wire(wire, kVarint, "eos_id"); spec.eos_id = r.int32_value(); break;
      case 43: expect_wire(wire, kVarint, "pad_id"); spec.pad_id = r.int32_value(); break;
      default: r.skip(wire);
    }
  }
  return spec;
}

NormalizerSpec read_normalizer_spec(std::span<const uint8_t> bytes) {
  NormalizerSpec spec;
  ProtoReader r(bytes);
  while (!r.done()) {
    const auto [field, wire] = r.key();
    switch (field) {
      case 1: {
        expect_wire(wire, kLengthDelimited, "name");
        const auto text = r.length_delimited();
        spec.name.assign(text.begin(), text.end());
        break;
      }
      case 3: expect_wire(wire, kVarint, "add_dummy_prefix"); spec.add_dummy_prefix = r.varint() != 0; break;
      case 4: expect_wire(wire, kVarint, "remove_extra_whitespaces"); spec.remove_extra_whitespaces = r.varint() != 0; break;
      case 5: expect_wire(wire, kVarint, "escape_whitespaces"); spec.escape_whitespaces = r.varint() != 0; break;
      default: r.skip(wire);
    }
  }
  return spec;
}

void read_piece(std::span<const uint8_t> bytes, Vocabulary& vocab, const ImportLimits& limits) {
  std::string piece;
  float score = 0.0f;
  uint64_t type = 1;
  ProtoReader r(bytes);
  while (!r.done()) {
    const auto [field, wire] = r.key();
    switch (field) {
      case 1: {
        expect_wire(wire, kLengthDelimited, "piece");
        const auto text = r.length_delimited();
        if (text.size() > limits.max_token_bytes) fail("a piece is longer than the limit");
        piece.assign(text.begin(), text.end());
        break;
      }
      case 2: expect_wire(wire, kFixed32, "score"); score = r.fixed32_float(); break;
      case 3: expect_wire(wire, kVarint, "type"); type = r.varint(); break;
      default: r.skip(wire);
    }
  }
  if (type < 1 || type > 6) fail("piece " + std::to_string(vocab.tokens.size()) + " has unknown type " + std::to_string(type));
  vocab.tokens.push_back(std::move(piece));
  vocab.scores.push_back(score);
  vocab.types.push_back(static_cast<TokenType>(type));
}

TokenId special_id(int64_t id, const Vocabulary& vocab, const char* what) {
  if (id < 0) return -1;
  if (id >= vocab.size()) fail(std::string(what) + " id " + std::to_string(id) + " is outside the vocabulary");
  return static_cast<TokenId>(id);
}

}  // namespace

ImportedTokenizer import_sentencepiece_model(std::span<const uint8_t> bytes, const ImportLimits& limits) {
  ImportedTokenizer out;
  Vocabulary& vocab = out.vocab;
  vocab.model = TokenizerModel::kSentencePiece;
  TrainerSpec trainer;
  NormalizerSpec normalizer;
  ProtoReader r(bytes);
  while (!r.done()) {
    const auto [field, wire] = r.key();
    switch (field) {
      case 1:
        expect_wire(wire, kLengthDelimited, "pieces");
        if (vocab.size() >= limits.max_tokens) fail("more pieces than the limit");
        read_piece(r.length_delimited(), vocab, limits);
        break;
      case 2: expect_wire(wire, kLengthDelimited, "trainer_spec"); trainer = read_trainer_spec(r.length_delimited()); break;
      case 3: expect_wire(wire, kLengthDelimited, "normalizer_spec"); normalizer = read_normalizer_spec(r.length_delimited()); break;
      default: r.skip(wire);
    }
  }
  if (vocab.tokens.empty()) fail("no pieces");
  if (trainer.model_type != 2) {
    fail("model type " + std::to_string(trainer.model_type) + " is not supported (only BPE, 2; unigram is 1)");
  }
  if (!normalizer.name.empty() && normalizer.name != "identity") {
    fail("normalization rule \"" + normalizer.name + "\" is not supported (only \"identity\")");
  }
  if (normalizer.remove_extra_whitespaces) fail("remove_extra_whitespaces is not supported");
  if (!normalizer.escape_whitespaces) fail("escape_whitespaces = false is not supported");
  vocab.add_space_prefix = normalizer.add_dummy_prefix;
  vocab.unk = special_id(trainer.unk_id, vocab, "unk");
  vocab.bos = special_id(trainer.bos_id, vocab, "bos");
  vocab.eos = special_id(trainer.eos_id, vocab, "eos");
  vocab.pad = special_id(trainer.pad_id, vocab, "pad");
  vocab.add_bos = vocab.bos >= 0;  // SentencePiece-based Llama models start every text with BOS
  vocab.add_eos = false;
  make_tokenizer(vocab);  // the same checks the GGUF reader makes
  return out;
}

ImportedTokenizer import_sentencepiece_model_file(const std::filesystem::path& path, const ImportLimits& limits) {
  const std::string bytes = read_limited_file(path, limits.max_file_bytes);
  try {
    return import_sentencepiece_model(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), limits);
  } catch (const FormatError& e) {
    throw FormatError(path.string() + ": " + e.what());
  }
}

}  // namespace hearth
