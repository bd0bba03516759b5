#pragma once
// hearth-cli subcommands. Each file app/cli/cmd_<name>.cpp registers one subcommand on the CLI11
// app and returns the function to run after parsing; main() runs the chosen one. A command
// returns the process exit code; errors are thrown (hearth::Error) and printed by main().
#include <functional>

namespace CLI {
class App;
}

namespace hearth::cli {

using CommandFn = std::function<int()>;

CommandFn add_generate_command(CLI::App& app);
CommandFn add_chat_command(CLI::App& app);
CommandFn add_info_command(CLI::App& app);
CommandFn add_synth_command(CLI::App& app);
CommandFn add_derive_command(CLI::App& app);
CommandFn add_quantize_command(CLI::App& app);
CommandFn add_bench_command(CLI::App& app);
CommandFn add_batch_command(CLI::App& app);
CommandFn add_convert_tokenizer_command(CLI::App& app);
CommandFn add_tokenize_command(CLI::App& app);
CommandFn add_detokenize_command(CLI::App& app);
CommandFn add_template_command(CLI::App& app);
CommandFn add_serve_command(CLI::App& app);
CommandFn add_bench_restore_command(CLI::App& app);

}  // namespace hearth::cli
