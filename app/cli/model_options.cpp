#include "app/cli/model_options.h"

#include <spdlog/spdlog.h>

namespace hearth::cli {

RunningModel open_model(const ModelOptions& options) {
  RunningModel r;
  r.model = LoadedModel::open(options.model_path);
  r.choice = create_backend(*r.model, options.backend);
  spdlog::info("{}: {}", r.choice.backend->device_name(), r.choice.reason);
  return r;
}

}  // namespace hearth::cli
