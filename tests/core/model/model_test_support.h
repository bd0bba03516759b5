#pragma once
// Helpers shared by the model tests: running the bundled model greedily, scoring a fixed token
// sequence (teacher forcing), and reading the float64 reference's output.
#include <QString>

#include <filesystem>
#include <string>
#include <vector>

#include "core/backend/backend.h"

namespace hearth::test {

inline const char* kStoriesModel = HEARTH_SOURCE_DIR "/resources/models/stories260K.gguf";
inline constexpr const char* kStoriesPrompt = "Once upon a time";

std::string read_text_file(const std::filesystem::path& path);
// The llama2.c reference continuation of kStoriesPrompt (everything after the prompt).
std::string stories_reference_continuation();

// Greedy generation of n tokens after the prompt (BOS added per the model); returns the tokens and
// the decoded text.
struct GreedyResult {
  std::vector<TokenId> prompt;
  std::vector<TokenId> tokens;
  std::string text;
};
GreedyResult greedy_generate(const std::filesystem::path& model, const std::string& prompt, int n);

// Logits for every position of `tokens` in one forward pass: [tokens.size(), n_vocab].
std::vector<float> score_tokens(const std::filesystem::path& model, const std::vector<TokenId>& tokens);

// Runs tests/reference/forward.py on the model and tokens; float64 logits [n_tokens, n_vocab].
// Returns false (with the reason in `error`) when python3 + NumPy are unavailable.
bool reference_logits(const std::filesystem::path& model, const std::vector<TokenId>& tokens,
                      std::vector<double>& logits, QString& error);

}  // namespace hearth::test
