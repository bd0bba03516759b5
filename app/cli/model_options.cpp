#include "app/cli/model_options.h"

#include <filesystem>
#include <system_error>

#include <spdlog/spdlog.h>

#include "core/common/executable_path.h"

namespace hearth::cli {

std::string bundled_model_path() {
  const std::filesystem::path name = "stories260K.gguf";
  std::error_code ec;
  const auto exe = executable_path();  // /proc/self/exe or GetModuleFileNameW
  if (!exe.empty()) {
    const auto installed = exe.parent_path() / ".." / "share" / "hearth" / "models" / name;
    if (std::filesystem::is_regular_file(installed, ec)) return installed.lexically_normal().string();
  }
  const auto source = std::filesystem::path(HEARTH_SOURCE_MODELS_DIR) / name;
  if (std::filesystem::is_regular_file(source, ec)) return source.string();
  return {};
}

RunningModel open_model(const ModelOptions& options) {
  RunningModel r;
  r.model = LoadedModel::open(options.model_path);
  r.choice = create_backend(*r.model, options.backend);
  spdlog::info("{}: {}", r.choice.backend->device_name(), r.choice.reason);
  return r;
}

}  // namespace hearth::cli
