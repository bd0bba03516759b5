#pragma once
// A model opened from a GGUF file: the mapping, its validated config, weight views and tokenizer.
// Everything a backend or a front end needs, kept together so lifetimes are simple.
#include <filesystem>
#include <memory>

#include "core/gguf/gguf_file.h"
#include "core/model/model_config.h"
#include "core/model/model_weights.h"
#include "core/tokenizer/tokenizer.h"

namespace hearth {

class LoadedModel {
 public:
  // Throws hearth::FormatError / hearth::Error with a message naming the problem.
  static std::unique_ptr<LoadedModel> open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const gguf::GgufFile& file() const { return file_; }
  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }

 private:
  LoadedModel(std::filesystem::path path, gguf::GgufFile file);

  std::filesystem::path path_;
  gguf::GgufFile file_;
  ModelConfig config_;
  ModelWeights weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

}  // namespace hearth
