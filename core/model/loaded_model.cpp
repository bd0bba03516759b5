#include "core/model/loaded_model.h"

#include <fmt/format.h>

#include "core/common/error.h"

namespace hearth {

LoadedModel::LoadedModel(std::filesystem::path path, gguf::GgufFile file)
    : path_(std::move(path)),
      file_(std::move(file)),
      config_(ModelConfig::from_gguf(file_)),
      weights_(ModelWeights::from_gguf(file_, config_)),
      tokenizer_(Tokenizer::from_gguf(file_)) {
  if (tokenizer_->vocab_size() != config_.n_vocab) {
    throw FormatError(fmt::format("tokenizer has {} tokens but the model's embedding has {} rows",
                                  tokenizer_->vocab_size(), config_.n_vocab));
  }
}

std::unique_ptr<LoadedModel> LoadedModel::open(const std::filesystem::path& path) {
  auto file = gguf::GgufFile::open(path);
  return std::unique_ptr<LoadedModel>(new LoadedModel(path, std::move(file)));
}

}  // namespace hearth
