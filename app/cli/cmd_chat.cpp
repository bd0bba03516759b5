// hearth-cli chat: an interactive terminal conversation.
//
// Template mode (models with a chat template, or chat models that lost theirs: the vocabulary has
// the control tokens of a built-in format): the conversation is kept as messages and rendered whole
// with the chat template every turn. The prompt is tokenized by ChatRenderer::encode, which parses
// control tokens in the template's own text only, so a user typing "<|im_end|>" sends those
// characters, not the token. Only what follows the longest common prefix with the tokens already
// in the KV cache is computed (Backend::truncate(n_common), then forward the rest), so earlier
// turns are not recomputed. When the built-in template renders instead of the model's, stderr says
// so and why. When the context fills, the oldest turns after the system message are dropped.
//
// Raw mode (base models without a template and without chat control tokens, e.g. stories260K; or
// --raw): each line you type is appended to the running text and the model continues it, which is
// what such a model can do sensibly. --force-template uses the built-in template anyway.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "app/cli/commands.h"
#include "app/cli/model_options.h"
#include "app/cli/sampling_options.h"
#include "core/common/error.h"
#include "core/engine/generation.h"
#include "core/tokenizer/chat_template/chat_renderer.h"

namespace hearth::cli {

namespace {

struct ChatOptions {
  ModelOptions model;
  SamplingParams sampling;
  int64_t n_predict = 256;
  std::string system;
  std::string template_name;
  bool raw = false;
  bool force_template = false;
};

bool read_turn(std::string& line) {
  std::fprintf(stderr, "\n> ");
  return std::getline(std::cin, line) && !line.empty() && line != "/exit";
}

TextSink print_sink() {
  return [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  };
}

// Plain continuation: the typed lines and the replies form one running text.
int run_raw_chat(const ChatOptions& o, RunningModel& running, Sampler& sampler) {
  auto& backend = *running.choice.backend;
  const auto& tokenizer = running.model->tokenizer();
  const bool stdin_is_terminal = isatty(fileno(stdin)) != 0;
  std::string line;
  bool first_turn = true;
  std::vector<TokenId> unfed;  // the last token of the previous reply: sampled, not yet in the cache
  while (read_turn(line)) {
    if (first_turn && !o.system.empty()) line = o.system + "\n" + line;
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
    const auto stats = generate(backend, tokenizer, sampler, request, print_sink(), &reply);
    unfed.clear();
    if (!reply.empty()) unfed.push_back(reply.back());
    std::fprintf(stderr, "\n[%lld tokens, %.1f tokens/s]", static_cast<long long>(stats.generated_tokens),
                 stats.decode_tokens_per_second());
  }
  std::fprintf(stderr, "\n");
  return 0;
}

size_t common_prefix(const std::vector<TokenId>& a, const std::vector<TokenId>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// The conversation rendered with the chat template every turn; the KV cache keeps the common prefix.
int run_template_chat(const ChatOptions& o, RunningModel& running, Sampler& sampler, const ChatRenderer& renderer) {
  auto& backend = *running.choice.backend;
  const auto& tokenizer = running.model->tokenizer();
  const int64_t context = backend.context_size();
  std::vector<ChatMessage> messages;
  if (!o.system.empty()) messages.push_back({"system", o.system});
  const size_t first_droppable = messages.size();
  std::vector<TokenId> cached;  // the tokens whose K/V the backend holds, in order (cached.size() == n_past)
  std::string last_note;
  std::string line;
  while (read_turn(line)) {
    messages.push_back({"user", line});
    std::vector<TokenId> ids;
    try {
      // Room for a reply: drop the oldest turns (never the system message or this one) until it fits.
      const int64_t reply_room = std::min<int64_t>(o.n_predict, std::max<int64_t>(context / 4, 1));
      while (true) {
        TemplateInputs inputs;
        inputs.messages = messages;
        inputs.add_generation_prompt = true;
        const RenderedPrompt prompt = renderer.render(inputs);
        if (prompt.used_fallback && prompt.note != last_note) {
          std::fprintf(stderr, "[note: %s]\n", prompt.note.c_str());
          last_note = prompt.note;
        }
        ids = renderer.encode(prompt, /*add_bos=*/true);
        if (static_cast<int64_t>(ids.size()) + reply_room <= context || messages.size() <= first_droppable + 1) break;
        // A whole exchange (user, then the assistant's reply) so the roles keep alternating.
        const auto oldest = messages.begin() + static_cast<std::ptrdiff_t>(first_droppable);
        const bool with_reply = messages.size() > first_droppable + 2 && (oldest + 1)->role == "assistant";
        messages.erase(oldest, oldest + (with_reply ? 2 : 1));
        std::fprintf(stderr, "[the context is full; dropped the oldest turn]\n");
      }
      if (ids.empty()) throw Error("the chat template rendered nothing");
      if (static_cast<int64_t>(ids.size()) + 1 >= context)
        throw Error("the message is too long: " + std::to_string(ids.size()) + " tokens with the template, context " +
                    std::to_string(context));
    } catch (const Error& e) {
      std::fprintf(stderr, "[%s]\n", e.what());
      messages.pop_back();
      continue;
    }
    // Reuse the cached prefix; at least one token must be computed to get the next logits.
    size_t common = common_prefix(cached, ids);
    if (common == ids.size()) --common;
    backend.truncate(static_cast<int64_t>(common));
    cached.resize(common);
    GenerationRequest request;
    request.prompt.assign(ids.begin() + static_cast<std::ptrdiff_t>(common), ids.end());
    request.max_tokens = o.n_predict;
    std::vector<TokenId> reply;
    const auto stats = generate(backend, tokenizer, sampler, request, print_sink(), &reply);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    // The backend holds the prompt and the reply tokens it has computed (the last sampled one may not be).
    cached = ids;
    cached.insert(cached.end(), reply.begin(), reply.end());
    cached.resize(static_cast<size_t>(std::min<int64_t>(backend.n_past(), static_cast<int64_t>(cached.size()))));
    messages.push_back({"assistant", tokenizer.decode(reply)});
    std::fprintf(stderr, "[%lld tokens, %.1f tokens/s; prompt %zu tokens, %zu reused from the cache]",
                 static_cast<long long>(stats.generated_tokens), stats.decode_tokens_per_second(), ids.size(), common);
  }
  std::fprintf(stderr, "\n");
  return 0;
}

int run_chat(const ChatOptions& o) {
  auto running = open_model(o.model);
  const auto& config = running.model->config();
  Sampler sampler(o.sampling, static_cast<int32_t>(config.n_vocab));
  const ChatRenderer renderer(running.model->file(), running.model->tokenizer(), o.template_name);
  // Built-in formats that use control tokens mean the vocabulary was made for chat.
  const bool chat_vocabulary = renderer.fallback_name() != "llama2" && renderer.fallback_name() != "plain";
  const bool use_template = !o.raw && (renderer.has_model_template() || chat_vocabulary || o.force_template);
  std::fprintf(stderr, "Hearth chat — %s (%s, %s). Type a message; an empty line or /exit quits.\n",
               running.model->path().filename().string().c_str(), config.arch_name.c_str(),
               running.choice.backend->device_name().c_str());
  if (!use_template) {
    std::fprintf(stderr, "[%s: plain continuation, each line continues the text%s]\n",
                 o.raw ? "--raw" : "the model has no chat template and no chat control tokens",
                 o.raw ? "" : " (--force-template uses the built-in template)");
    return run_raw_chat(o, running, sampler);
  }
  return run_template_chat(o, running, sampler, renderer);
}

}  // namespace

CommandFn add_chat_command(CLI::App& app) {
  auto o = std::make_shared<ChatOptions>();
  auto* cmd = app.add_subcommand("chat", "Interactive chat in the terminal");
  o->model.add_to(*cmd);
  cmd->add_option("-n,--n-predict", o->n_predict, "most tokens per reply")->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->capture_default_str();
  cmd->add_option("--system", o->system, "system message at the start of the conversation");
  cmd->add_option("--template-name", o->template_name, "use tokenizer.chat_template.NAME");
  cmd->add_flag("--raw", o->raw, "plain continuation: no chat template");
  cmd->add_flag("--force-template", o->force_template, "use the built-in chat template even for a model without chat tokens");
  add_sampling_options(*cmd, o->sampling);
  return [o] { return run_chat(*o); };
}

}  // namespace hearth::cli
