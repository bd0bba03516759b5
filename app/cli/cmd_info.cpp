// hearth-cli info: what a GGUF model file holds (architecture, shapes, sizes, tokenizer).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>
#include <string>

#include "app/cli/commands.h"
#include "core/gguf/gguf_file.h"
#include "core/model/model_info.h"

namespace hearth::cli {

namespace {

struct InfoCommandOptions {
  std::string model;
  bool json = false;
};

nlohmann::json to_json(const ModelInfo& i) {
  using nlohmann::json;
  auto opt = [](const auto& v) { return v ? json(*v) : json(nullptr); };
  json types = json::array();
  for (const auto& t : i.types) {
    types.push_back({{"type", t.type}, {"count", t.count}, {"elements", t.elements}, {"bytes", t.bytes}});
  }
  const auto& s = i.shapes;
  return {
      {"gguf_version", i.gguf_version},
      {"file_size", i.file_size},
      {"alignment", i.alignment},
      {"metadata_count", i.metadata_count},
      {"architecture", i.architecture},
      {"name", i.name},
      {"file_type", opt(i.file_type)},
      {"file_type_name", i.file_type_name},
      {"quantization_version", opt(i.quantization_version)},
      {"shapes",
       {{"source", s.source}, {"config_error", s.config_error}, {"n_vocab", s.n_vocab}, {"n_embd", s.n_embd},
        {"n_layer", s.n_layer}, {"n_head", s.n_head}, {"n_head_kv", s.n_head_kv}, {"head_dim", s.head_dim},
        {"n_ff", s.n_ff}, {"n_ctx_train", s.n_ctx_train}, {"rms_eps", s.rms_eps}, {"rope_base", s.rope_base},
        {"tied_output", s.tied_output}, {"qkv_bias", s.qkv_bias}, {"qk_norm", s.qk_norm},
        {"rope_freq_factors", s.rope_freq_factors}}},
      {"parameter_count", i.parameter_count},
      {"tensor_count", i.tensor_count},
      {"tensor_bytes", i.tensor_bytes},
      {"tensor_types", types},
      {"vocabulary",
       {{"model", i.vocab_model}, {"pre", i.vocab_pre}, {"size", i.vocab_size}, {"merges", i.merges_count},
        {"bos_id", opt(i.bos_id)}, {"eos_id", opt(i.eos_id)}, {"eot_id", opt(i.eot_id)}, {"add_bos", opt(i.add_bos)}}},
      {"chat_template", {{"present", i.has_chat_template}, {"bytes", i.chat_template_bytes}}},
  };
}

int run_info(const InfoCommandOptions& o) {
  const auto file = gguf::GgufFile::open(o.model);
  const auto info = read_model_info(file);
  if (o.json) {
    std::printf("%s\n", to_json(info).dump(2).c_str());
  } else {
    std::printf("%s", format_model_info(info).c_str());
  }
  return 0;
}

}  // namespace

CommandFn add_info_command(CLI::App& app) {
  auto o = std::make_shared<InfoCommandOptions>();
  auto* cmd = app.add_subcommand("info", "Describe a GGUF model file");
  cmd->add_option("-m,--model", o->model, "model .gguf file")->required()->check(CLI::ExistingFile);
  cmd->add_flag("--json", o->json, "print JSON instead of text");
  return [o] { return run_info(*o); };
}

}  // namespace hearth::cli
