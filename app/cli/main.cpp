// hearth-cli: the headless front end of Hearth. Text goes to stdout, diagnostics to stderr; any
// error prints one clear message and exits non-zero.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>
#include <vector>

#include "app/cli/commands.h"
#include "core/common/logging.h"
#include "hearth/version.h"

int main(int argc, char** argv) {
  using namespace hearth;
  CLI::App app{"Hearth: run LLMs locally on your GPU or CPU", "hearth-cli"};
  app.set_version_flag("--version", std::string(kName) + " " + kVersion);
  // On Windows CLI11 would read "/path/model.gguf" as a "/option"; Hearth's options are GNU-style everywhere.
  app.allow_windows_style_options(false);
  app.require_subcommand(1);
  app.fallthrough();  // --log-level may come after the subcommand too
  LogConfig log;
  app.add_option("--log-level", log.level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  std::string log_file;
  app.add_option("--log-file", log_file, "also log to this file (rotated at 5 MB, 3 kept)");

  std::vector<std::pair<CLI::App*, cli::CommandFn>> commands;
  auto add = [&](auto add_fn) {
    const size_t before = app.get_subcommands({}).size();
    cli::CommandFn fn = add_fn(app);
    commands.emplace_back(app.get_subcommands({})[before], std::move(fn));
  };
  add(cli::add_generate_command);
  add(cli::add_chat_command);
  add(cli::add_info_command);
  add(cli::add_synth_command);
  add(cli::add_derive_command);  // [spec5] draft pairs for speculative decoding
  add(cli::add_quantize_command);
  add(cli::add_bench_command);
  add(cli::add_batch_command);
  add(cli::add_convert_tokenizer_command);
  add(cli::add_tokenize_command);
  add(cli::add_detokenize_command);
  add(cli::add_template_command);
  add(cli::add_serve_command);
  add(cli::add_bench_restore_command);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (!log_file.empty()) log.file = log_file;
    configure_logging(log);
    for (auto& [cmd, fn] : commands) {
      if (cmd->parsed()) return fn();
    }
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hearth-cli: error: %s\n", e.what());
    return 1;
  }
}
