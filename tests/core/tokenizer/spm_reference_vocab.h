#pragma once
// Builds a Vocabulary from the vocab.tsv that spm_reference.py writes (id, type, score, hex piece).
#include <cstdlib>
#include <sstream>
#include <string>

#include "core/tokenizer/vocabulary.h"
#include "tests/core/tokenizer/tokenizer_test_support.h"

namespace hearth::test {

inline Vocabulary load_spm_reference_vocab(const std::string& tsv_path) {
  Vocabulary vocab;
  vocab.model = TokenizerModel::kSentencePiece;
  for (const std::string& line : read_lines(tsv_path)) {
    std::istringstream ss(line);
    std::string id, type, score, hex;
    std::getline(ss, id, '\t');
    std::getline(ss, type, '\t');
    std::getline(ss, score, '\t');
    std::getline(ss, hex, '\t');
    vocab.tokens.push_back(from_hex(hex));
    vocab.types.push_back(static_cast<TokenType>(std::atoi(type.c_str())));
    vocab.scores.push_back(std::strtof(score.c_str(), nullptr));
    const auto index = static_cast<TokenId>(vocab.tokens.size() - 1);
    if (vocab.types.back() == TokenType::kUnknown && vocab.unk < 0) vocab.unk = index;
  }
  // Llama 2's model: <s> = 1, </s> = 2, dummy prefix on.
  vocab.bos = vocab.size() > 1 ? 1 : -1;
  vocab.eos = vocab.size() > 2 ? 2 : -1;
  vocab.add_bos = true;
  vocab.add_space_prefix = true;
  return vocab;
}

}  // namespace hearth::test
