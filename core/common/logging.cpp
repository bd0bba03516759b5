#include "core/common/logging.h"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <vector>

#include "core/common/error.h"

namespace hearth {

void configure_logging(const LogConfig& config) {
  const auto level = spdlog::level::from_str(config.level);
  if (level == spdlog::level::off && config.level != "off") {
    throw Error("unknown log level '" + config.level + "' (use trace, debug, info, warn, error or off)");
  }
  std::vector<spdlog::sink_ptr> sinks;
  if (config.to_stderr) sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (config.file) {
    try {
      std::filesystem::create_directories(config.file->parent_path());
      sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
          config.file->string(), config.max_file_bytes, config.max_files));
    } catch (const std::exception& e) {
      throw Error("cannot open log file " + config.file->string() + ": " + e.what());
    }
  }
  auto logger = std::make_shared<spdlog::logger>("hearth", sinks.begin(), sinks.end());
  logger->set_level(level);
  logger->set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
  spdlog::set_default_logger(std::move(logger));
}

std::filesystem::path user_data_dir() {
#ifdef _WIN32
  if (const char* appdata = std::getenv("APPDATA"); appdata && *appdata) {
    return std::filesystem::path(appdata) / "Hearth";
  }
  return std::filesystem::path("Hearth");
#else
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) {
    return std::filesystem::path(xdg) / "hearth";
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    return std::filesystem::path(home) / ".local" / "share" / "hearth";
  }
  return std::filesystem::path(".hearth");
#endif
}

}  // namespace hearth
