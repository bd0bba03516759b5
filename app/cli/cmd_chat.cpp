// hearth-cli chat: an interactive terminal conversation. Until chat templates land, each line you
// type is appended to the running text and the model continues it (plain continuation); the
// whole exchange stays in the KV cache, so nothing is recomputed between turns.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "app/cli/commands.h"
#include "app/cli/model_options.h"
#include "app/cli/sampling_options.h"
#include "core/common/error.h"
#include "core/engine/generation.h"

namespace hearth::cli {

namespace {

struct ChatOptions {
  ModelOptions model;
  SamplingParams sampling;
  int64_t n_predict = 256;
};

int run_chat(const ChatOptions& o) {
  auto running = open_model(o.model);
  auto& backend = *running.choice.backend;
  const auto& tokenizer = running.model->tokenizer();
  const auto& config = running.model->config();
  Sampler sampler(o.sampling, static_cast<int32_t>(config.n_vocab));
  std::fprintf(stderr, "Hearth chat — %s (%s, %s). Type a message; an empty line or /exit quits.\n",
               running.model->path().filename().string().c_str(), config.arch_name.c_str(),
               backend.device_name().c_str());
  const bool stdin_is_terminal = isatty(fileno(stdin)) != 0;
  std::string line;
  bool first_turn = true;
  std::vector<TokenId> unfed;  // the last token of the previous reply: sampled, not yet in the cache
  while (true) {
    std::fprintf(stderr, "\n> ");
    if (!std::getline(std::cin, line) || line.empty() || line == "/exit") break;
    GenerationRequest request;
    const bool add_bos = first_turn && tokenizer.add_bos_by_default();
    request.prompt = unfed;
    const auto typed = tokenizer.encode((first_turn ? "" : "\n") + line, add_bos, /*parse_special=*/false);
    request.prompt.insert(request.prompt.end(), typed.begin(), typed.end());
    request.max_tokens = o.n_predict;
    if (backend.n_past() + static_cast<int64_t>(request.prompt.size()) + 1 >= backend.context_size()) {
      std::fprintf(stderr, "[the context is full; starting a new conversation]\n");
      backend.truncate(0);
      sampler.reset();
      unfed.clear();
      request.prompt = tokenizer.encode(line, tokenizer.add_bos_by_default(), false);
    }
    first_turn = false;
    // The continuation reads on from the typed text; a terminal already shows it, a pipe does not.
    if (!stdin_is_terminal) std::fwrite(line.data(), 1, line.size(), stdout);
    std::vector<TokenId> reply;
    const auto stats = generate(
        backend, tokenizer, sampler, request,
        [](std::string_view text) {
          std::fwrite(text.data(), 1, text.size(), stdout);
          std::fflush(stdout);
          return true;
        },
        &reply);
    unfed.clear();
    if (!reply.empty()) unfed.push_back(reply.back());
    std::fprintf(stderr, "\n[%lld tokens, %.1f tokens/s]", static_cast<long long>(stats.generated_tokens),
                 stats.decode_tokens_per_second());
  }
  std::fprintf(stderr, "\n");
  return 0;
}

}  // namespace

CommandFn add_chat_command(CLI::App& app) {
  auto o = std::make_shared<ChatOptions>();
  auto* cmd = app.add_subcommand("chat", "Interactive chat in the terminal");
  o->model.add_to(*cmd);
  cmd->add_option("-n,--n-predict", o->n_predict, "most tokens per reply")->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->capture_default_str();
  add_sampling_options(*cmd, o->sampling);
  return [o] { return run_chat(*o); };
}

}  // namespace hearth::cli
