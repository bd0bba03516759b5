#pragma once
// Where the app keeps its things, decided once at start (command line, then defaults).
#include <filesystem>
#include <functional>
#include <string>

#include "core/backend/backend_factory.h"

namespace hearth {

struct GuiConfig {
  std::filesystem::path data_dir;   // empty: user_data_dir()
  std::filesystem::path db_path;    // empty: <data_dir>/hearth.db
  std::string model_path;           // non-empty: load this model instead of the remembered one
  int n_threads = 0;                // CPU threads for the engine; 0: all
  // Test hook (not reachable from the command line): builds the engine's backend instead of
  // create_backend(), e.g. one that fails mid-stream to check that errors are shown.
  std::function<BackendChoice(const LoadedModel&, const BackendOptions&)> backend_factory;
};

// Fills the empty fields with their defaults.
GuiConfig resolved(GuiConfig config);

// The bundled default model (stories260K), looked up beside the executable
// (../share/hearth/models) and then in the source tree (developer builds). Empty when missing.
std::filesystem::path bundled_model_path();

}  // namespace hearth
