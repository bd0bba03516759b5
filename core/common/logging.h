#pragma once
// Logging setup. Components log through spdlog's default logger (spdlog::info(...)); the
// executable decides where it goes by calling configure_logging() once in main().
#include <filesystem>
#include <optional>
#include <string>

namespace hearth {

struct LogConfig {
  std::string level = "warn";                 // trace, debug, info, warn, error, off
  bool to_stderr = true;
  std::optional<std::filesystem::path> file;  // rotating file, e.g. <data dir>/logs/hearth.log
  std::size_t max_file_bytes = 5u << 20;
  std::size_t max_files = 3;
};

// Installs the default logger. Throws hearth::Error on a bad level name or an unwritable file.
void configure_logging(const LogConfig& config);

// The user's data directory: $XDG_DATA_HOME/hearth or ~/.local/share/hearth on Linux,
// %APPDATA%/Hearth on Windows. Not created here.
std::filesystem::path user_data_dir();

}  // namespace hearth
