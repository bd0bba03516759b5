#include "app/gui/gui_config.h"

#include <QCoreApplication>

#include "core/common/logging.h"

namespace hearth {

GuiConfig resolved(GuiConfig config) {
  if (config.data_dir.empty()) config.data_dir = user_data_dir();
  if (config.db_path.empty()) config.db_path = config.data_dir / "hearth.db";
  return config;
}

std::filesystem::path bundled_model_path() {
  const std::filesystem::path name = "stories260K.gguf";
  std::error_code ec;
  if (QCoreApplication::instance()) {
    const std::filesystem::path exe_dir = QCoreApplication::applicationDirPath().toStdString();
    const auto installed = exe_dir / ".." / "share" / "hearth" / "models" / name;
    if (std::filesystem::exists(installed, ec)) return installed.lexically_normal();
  }
  const auto source = std::filesystem::path(HEARTH_SOURCE_MODELS_DIR) / name;
  if (std::filesystem::exists(source, ec)) return source;
  return {};
}

}  // namespace hearth
