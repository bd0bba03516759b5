#pragma once
// Measurements of the CUDA device for `hearth-cli bench`: the copy bandwidth that the roofline
// is measured against, and the memory in use. Present in every build; without CUDA compiled in
// they return nullopt.
#include <cstdint>
#include <optional>

namespace hearth {

// Device-to-device copy bandwidth, bytes read + bytes written per second: the median of
// `repeats` timed copies of `bytes` (CUDA events), after a warm-up copy. Uses the current device.
std::optional<double> measure_cuda_copy_bandwidth(uint64_t bytes = 1ull << 30, int repeats = 5);

struct CudaMemoryInUse {
  uint64_t used = 0;   // total - free, every process and context included
  uint64_t total = 0;
};
std::optional<CudaMemoryInUse> cuda_memory_in_use();

}  // namespace hearth
