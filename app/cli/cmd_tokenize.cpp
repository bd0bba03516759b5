// hearth-cli tokenize / detokenize: text <-> token ids with a model's tokenizer (any GGUF with
// tokenizer.ggml.* keys, a full model or a vocabulary-only file from convert-tokenizer).
//
// tokenize matches Hugging Face's encode() by default: the model's BOS (add_bos) is added and
// special-token texts in the input ("<|im_start|>") become those tokens. --no-special keeps them
// plain text, as Hearth does for all user input (user-defined tokens such as "<think>" are
// always cut out, as Hugging Face does); --no-bos leaves the BOS out.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>
#include <string>

#include "app/cli/commands.h"
#include "core/common/error.h"
#include "core/gguf/gguf_file.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/tokenizer_import.h"

namespace hearth::cli {

namespace {

constexpr uint64_t kMaxInputBytes = uint64_t{1} << 30;

struct TokenizeOptions {
  std::string model;
  std::string text;
  std::string file;
  bool no_special = false;
  bool no_bos = false;
};

struct DetokenizeOptions {
  std::string model;
  std::string ids;
  std::string file;
  bool skip_special = false;
};

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  const auto file = gguf::GgufFile::open(path);
  return Tokenizer::from_gguf(file);
}

int run_tokenize(const TokenizeOptions& o) {
  const auto tokenizer = load_tokenizer(o.model);
  const std::string text = o.file.empty() ? o.text : read_limited_file(o.file, kMaxInputBytes);
  const bool add_bos = !o.no_bos && tokenizer->add_bos_by_default();
  const std::vector<TokenId> ids = tokenizer->encode(text, add_bos, !o.no_special);
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(ids[i]);
  }
  out += "]\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

std::vector<TokenId> parse_ids(const std::string& text, int32_t vocab_size) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("the ids are not valid JSON: ") + e.what());
  }
  if (!j.is_array()) throw Error("the ids must be a JSON array of integers");
  std::vector<TokenId> ids;
  ids.reserve(j.size());
  for (const auto& item : j) {
    if (!item.is_number_integer()) throw Error("the ids must be a JSON array of integers");
    const int64_t id = item.get<int64_t>();
    if (id < 0 || id >= vocab_size) {
      throw Error("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(vocab_size));
    }
    ids.push_back(static_cast<TokenId>(id));
  }
  return ids;
}

int run_detokenize(const DetokenizeOptions& o) {
  const auto tokenizer = load_tokenizer(o.model);
  const std::string json_text = o.file.empty() ? o.ids : read_limited_file(o.file, kMaxInputBytes);
  const std::string text = tokenizer->decode(parse_ids(json_text, tokenizer->vocab_size()), !o.skip_special);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace

CommandFn add_tokenize_command(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a text as a JSON array");
  cmd->add_option("-m,--model", o->model, "GGUF file with a tokenizer")->required()->check(CLI::ExistingFile);
  auto* text = cmd->add_option("--text", o->text, "the text");
  auto* file = cmd->add_option("--file", o->file, "read the text from this file (bytes as they are)")->check(CLI::ExistingFile);
  text->excludes(file);
  cmd->add_flag("--no-special", o->no_special, "special-token texts stay plain text (as for untrusted user input)");
  cmd->add_flag("--no-bos", o->no_bos, "do not add the model's BOS token");
  return [o, text, file] {
    if (text->count() == 0 && file->count() == 0) throw Error("tokenize needs --text T or --file F");
    return run_tokenize(*o);
  };
}

CommandFn add_detokenize_command(CLI::App& app) {
  auto o = std::make_shared<DetokenizeOptions>();
  auto* cmd = app.add_subcommand("detokenize", "Print the text of token ids given as a JSON array");
  cmd->add_option("-m,--model", o->model, "GGUF file with a tokenizer")->required()->check(CLI::ExistingFile);
  auto* ids = cmd->add_option("--ids", o->ids, "the ids, a JSON array such as [1, 15043]");
  auto* file = cmd->add_option("--file", o->file, "read the JSON array from this file")->check(CLI::ExistingFile);
  ids->excludes(file);
  cmd->add_flag("--skip-special", o->skip_special, "leave out the text of control tokens such as <s>");
  return [o, ids, file] {
    if (ids->count() == 0 && file->count() == 0) throw Error("detokenize needs --ids JSON or --file F");
    return run_detokenize(*o);
  };
}

}  // namespace hearth::cli
