#pragma once
// Random-weight models with the exact shapes, vocabulary size and metadata layout of real ones
// (`hearth-cli synth`). Weights are seeded normals generated per row from (seed, tensor name, row),
// so the file is the same whatever the thread count, and tensors are streamed through the GGUF
// writer's fill callbacks: the 8B preset needs only a few rows of floats per thread in memory.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/model/model_presets.h"
#include "core/model/quantize_model.h"
#include "kernels/common/dtype.h"

namespace hearth::kernels::cpu {
class ThreadPool;
}
namespace hearth::gguf {
class GgufWriter;
}

namespace hearth {

// GGUF token types (llama.cpp's llama_token_type).
enum class TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

// A byte-level BPE vocabulary in the GGUF "gpt2" form: token texts are in the GPT-2
// byte-to-unicode alphabet (a space is "Ġ"), merges are "A B" in priority order.
struct SyntheticVocabulary {
  std::vector<std::string> tokens;      // exactly n_vocab
  std::vector<TokenType> token_types;   // same length
  std::vector<std::string> merges;      // one per merged token, in id order
  int64_t bos_id = -1;
  int64_t eos_id = -1;
  int64_t eot_id = -1;
  int64_t pad_id = -1;                  // -1: none
  bool add_bos = false;
  std::string pre;                      // tokenizer.ggml.pre: "llama-bpe" or "qwen2"
};

// The 256 byte tokens first (GPT-2 order), then merged tokens (letter pairs, common English
// words, numbers, then combinations), each the concatenation of two earlier tokens, up to
// preset.first_special; then the family's special tokens at their real ids.
SyntheticVocabulary synth_vocabulary(const ModelPreset& preset);

// The GPT-2 byte-to-unicode text of one byte (UTF-8 encoded).
std::string byte_to_unicode(uint8_t byte);
// `text` (raw bytes) written in that alphabet: " the" -> "Ġthe".
std::string encode_bytes_as_unicode(std::string_view text);

// The family's standard Jinja chat template (Llama 3 headers, or ChatML for Qwen).
std::string synth_chat_template(const ModelPreset& preset);

// One tensor of a preset, in file order. dims[0] is the row length.
enum class SynthTensorKind { kEmbedding, kOutput, kMatrix, kNorm, kBias, kRopeFactors };
struct SynthTensor {
  std::string name;
  std::vector<uint64_t> dims;
  SynthTensorKind kind = SynthTensorKind::kMatrix;
};
std::vector<SynthTensor> synth_tensor_list(const ModelPreset& preset);

struct SynthOptions {
  QuantTarget type = QuantTarget::kF32;
  uint64_t seed = 1;
  std::function<void(const std::string& line)> log;  // progress lines; may be empty
};

// Adds the preset's metadata and tensors (with fill callbacks) to `writer`. The callbacks refer
// to `preset` and `pool`, which must outlive writer.write().
void add_synth_model(gguf::GgufWriter& writer, const ModelPreset& preset, const SynthOptions& options,
                     kernels::cpu::ThreadPool& pool);

// Builds and writes the whole file (through a temporary file). Throws hearth::Error.
void synth_model_file(const std::filesystem::path& path, const ModelPreset& preset, const SynthOptions& options,
                      kernels::cpu::ThreadPool& pool);

}  // namespace hearth
