// add_tokenizer_metadata: an ImportedTokenizer -> the tokenizer.ggml.* keys of a GGUF file, with
// the types llama.cpp's converter uses (arrays of string / int32 / float32, uint32 ids, bools),
// so the file reads back through Tokenizer::from_gguf like any model's.
#include "core/common/error.h"
#include "core/gguf/gguf_file.h"
#include "core/tokenizer/tokenizer_import.h"

namespace hearth {
namespace {

gguf::Value string_array(const std::vector<std::string>& items) {
  gguf::Array array{gguf::ValueType::kString, {}};
  array.items.reserve(items.size());
  for (const std::string& item : items) array.items.emplace_back(item);
  return array;
}

}  // namespace

void add_tokenizer_metadata(gguf::GgufWriter& writer, const ImportedTokenizer& tokenizer, const std::string& name) {
  const Vocabulary& vocab = tokenizer.vocab;
  vocab.validate();
  if (!name.empty()) writer.set("general.name", name);
  const bool byte_level = vocab.model == TokenizerModel::kByteLevelBpe;
  writer.set("tokenizer.ggml.model", byte_level ? "gpt2" : "llama");
  if (byte_level) writer.set("tokenizer.ggml.pre", vocab.pre);
  writer.set("tokenizer.ggml.tokens", string_array(vocab.tokens));
  if (!vocab.scores.empty()) {
    gguf::Array scores{gguf::ValueType::kFloat32, {}};
    scores.items.reserve(vocab.scores.size());
    for (float score : vocab.scores) scores.items.emplace_back(score);
    writer.set("tokenizer.ggml.scores", std::move(scores));
  }
  gguf::Array types{gguf::ValueType::kInt32, {}};
  types.items.reserve(vocab.tokens.size());
  for (TokenId id = 0; id < vocab.size(); ++id) types.items.emplace_back(static_cast<int32_t>(vocab.type_of(id)));
  writer.set("tokenizer.ggml.token_type", std::move(types));
  if (!vocab.merges.empty()) writer.set("tokenizer.ggml.merges", string_array(vocab.merges));
  const auto set_id = [&](const char* key, TokenId id) {
    if (id >= 0) writer.set(key, static_cast<uint32_t>(id));
  };
  set_id("tokenizer.ggml.bos_token_id", vocab.bos);
  set_id("tokenizer.ggml.eos_token_id", vocab.eos);
  set_id("tokenizer.ggml.eot_token_id", vocab.eot);
  set_id("tokenizer.ggml.eom_token_id", vocab.eom);
  set_id("tokenizer.ggml.unknown_token_id", vocab.unk);
  set_id("tokenizer.ggml.padding_token_id", vocab.pad);
  writer.set("tokenizer.ggml.add_bos_token", vocab.add_bos);
  writer.set("tokenizer.ggml.add_eos_token", vocab.add_eos);
  if (!byte_level) writer.set("tokenizer.ggml.add_space_prefix", vocab.add_space_prefix);
  if (byte_level) writer.set(std::string(kNormalizerKey), vocab.normalization == Normalization::kNfc ? "nfc" : "none");
  if (!tokenizer.chat_template.empty()) writer.set("tokenizer.chat_template", tokenizer.chat_template);
  for (const auto& [template_name, text] : tokenizer.named_chat_templates) {
    writer.set("tokenizer.chat_template." + template_name, text);
  }
}

}  // namespace hearth
