#pragma once
// Options shared by the subcommands that run a model (-m, --device, --threads, --ctx-size,
// --gpu-layers), and
// the code that turns them into a loaded model and a backend.
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "core/backend/backend_factory.h"
#include "core/model/loaded_model.h"

namespace hearth::cli {

// The bundled default model (stories260K): <exe>/../share/hearth/models for an installed or
// unpacked package, else the source tree's resources/models for a build-tree binary. Empty when
// neither exists.
std::string bundled_model_path();

struct ModelOptions {
  std::string model_path;
  BackendOptions backend;

  void add_to(CLI::App& cmd) {
    auto* model = cmd.add_option("-m,--model", model_path, "GGUF model file (default: the bundled stories260K)");
    if (std::string bundled = bundled_model_path(); !bundled.empty()) {
      model_path = std::move(bundled);
      model->capture_default_str();
    } else {
      model->required();
    }
    cmd.add_option("--device", backend.device, "auto, cpu or cuda")
        ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
        ->capture_default_str();
    cmd.add_option("--threads", backend.n_threads, "CPU threads (0 = all)")->check(CLI::Range(0, 1024));
    cmd.add_option("--ctx-size", backend.context_size, "context length in tokens (0 = model default, at most 4096)")
        ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
    cmd.add_option("--gpu-layers", backend.gpu_layers,
                   "partial offload: the first N layers on the GPU, the rest on the CPU (-1 = all layers on the "
                   "GPU when one is used, 0 = CPU only)")
        ->check(CLI::Range(int64_t{-1}, int64_t{1} << 20))
        ->capture_default_str();
    cmd.add_flag("--mmap", backend.mmap_weights,
                 "compute from the memory-mapped file (no copy: less memory, slower CPU decode)");
  }
};

struct RunningModel {
  std::unique_ptr<LoadedModel> model;
  BackendChoice choice;
};

// Opens the model and builds the backend; logs the device and the reason at info level.
RunningModel open_model(const ModelOptions& options);

}  // namespace hearth::cli
