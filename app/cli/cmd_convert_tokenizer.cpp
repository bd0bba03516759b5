// hearth-cli convert-tokenizer: a Hugging Face tokenizer (tokenizer.json + tokenizer_config.json)
// or a SentencePiece .model -> a vocabulary-only GGUF (tokenizer.ggml.* and the chat template),
// the metadata a full model converter writes. `tokenize -m FILE.gguf` then reads it like a model.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "app/cli/commands.h"
#include "core/common/error.h"
#include "core/gguf/gguf_file.h"
#include "core/tokenizer/tokenizer_import.h"

namespace hearth::cli {

namespace {

struct ConvertTokenizerOptions {
  std::string hf_dir;
  std::string spm_model;
  std::string out;
  std::string name;
};

int run_convert_tokenizer(const ConvertTokenizerOptions& o) {
  const ImportedTokenizer imported =
      o.hf_dir.empty() ? import_sentencepiece_model_file(o.spm_model) : import_hf_tokenizer_dir(o.hf_dir);
  std::string name = o.name;
  if (name.empty()) {
    const std::filesystem::path source = std::filesystem::weakly_canonical(o.hf_dir.empty() ? o.spm_model : o.hf_dir);
    name = o.hf_dir.empty() ? source.stem().string() : source.filename().string();
  }
  gguf::GgufWriter writer;
  add_tokenizer_metadata(writer, imported, name);
  writer.write(o.out);
  const Vocabulary& v = imported.vocab;
  std::fprintf(stderr, "wrote %s: %s, %d tokens, %zu merges%s%s, bos %d, eos %d, add_bos %s%s\n", o.out.c_str(),
               v.model == TokenizerModel::kByteLevelBpe ? "gpt2" : "llama", v.size(), v.merges.size(),
               v.model == TokenizerModel::kByteLevelBpe ? ", pre " : "",
               v.model == TokenizerModel::kByteLevelBpe ? v.pre.c_str() : "", v.bos, v.eos, v.add_bos ? "yes" : "no",
               imported.chat_template.empty() ? ", no chat template" : ", with chat template");
  return 0;
}

}  // namespace

CommandFn add_convert_tokenizer_command(CLI::App& app) {
  auto o = std::make_shared<ConvertTokenizerOptions>();
  auto* cmd = app.add_subcommand("convert-tokenizer",
                                 "Write a vocabulary-only GGUF from a Hugging Face tokenizer or a SentencePiece model");
  auto* hf = cmd->add_option("--hf", o->hf_dir, "directory with tokenizer.json (and tokenizer_config.json)")
                 ->check(CLI::ExistingDirectory);
  auto* spm = cmd->add_option("--spm", o->spm_model, "SentencePiece tokenizer.model file")->check(CLI::ExistingFile);
  hf->excludes(spm);
  cmd->add_option("--out", o->out, "output .gguf file")->required();
  cmd->add_option("--name", o->name, "general.name (default: the source's name)");
  return [o] {
    if (o->hf_dir.empty() && o->spm_model.empty()) throw Error("convert-tokenizer needs --hf DIR or --spm FILE");
    return run_convert_tokenizer(*o);
  };
}

}  // namespace hearth::cli
