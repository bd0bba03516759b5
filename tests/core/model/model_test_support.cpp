#include "model_test_support.h"

#include <QProcess>
#include <QStringList>
#include <QTemporaryDir>

#include <cstring>
#include <fstream>
#include <sstream>

#include "core/backend/cpu/cpu_backend.h"
#include "core/engine/generation.h"
#include "core/model/loaded_model.h"
#include "core/sampling/sampler.h"

namespace hearth::test {

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string stories_reference_continuation() {
  const std::string full = read_text_file(HEARTH_TEST_DATA_DIR "/stories260K_reference.txt");
  const std::string prompt = kStoriesPrompt;
  return full.rfind(prompt, 0) == 0 ? full.substr(prompt.size()) : std::string();
}

GreedyResult greedy_generate(const std::filesystem::path& path, const std::string& prompt, int n) {
  auto model = LoadedModel::open(path);
  CpuBackend backend(model->config(), model->weights(), {.n_threads = 2, .context_size = 512});
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  Sampler sampler(greedy, static_cast<int32_t>(model->config().n_vocab));
  GreedyResult r;
  r.prompt = model->tokenizer().encode(prompt, model->tokenizer().add_bos_by_default(), false);
  GenerationRequest request{r.prompt, n, false};
  generate(backend, model->tokenizer(), sampler, request,
           [&](std::string_view text) {
             r.text += text;
             return true;
           },
           &r.tokens);
  return r;
}

std::vector<float> score_tokens(const std::filesystem::path& path, const std::vector<TokenId>& tokens) {
  auto file = gguf::GgufFile::open(path);
  const auto config = ModelConfig::from_gguf(file);
  const auto weights = ModelWeights::from_gguf(file, config);
  CpuBackend backend(config, weights, {.n_threads = 2, .context_size = static_cast<int64_t>(tokens.size())});
  std::vector<float> logits;
  backend.forward({tokens, true}, logits);
  return logits;
}

bool reference_logits(const std::filesystem::path& model, const std::vector<TokenId>& tokens,
                      std::vector<double>& logits, QString& error) {
  QTemporaryDir scratch;
  const auto out = std::filesystem::path(scratch.path().toStdString()) / "reference_logits.f64";
  QStringList ids;
  for (TokenId t : tokens) ids << QString::number(t);
  QProcess p;
  p.start(HEARTH_PYTHON, {HEARTH_SOURCE_DIR "/tests/reference/forward.py", QString::fromStdString(model.string()),
                          "--tokens", ids.join(','), "--out", QString::fromStdString(out.string())});
  if (!p.waitForFinished(600000) || p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0) {
    error = "reference failed: " + QString::fromUtf8(p.readAllStandardError());
    return false;
  }
  const std::string bytes = read_text_file(out);
  logits.resize(bytes.size() / sizeof(double));
  std::memcpy(logits.data(), bytes.data(), logits.size() * sizeof(double));
  return true;
}

}  // namespace hearth::test
