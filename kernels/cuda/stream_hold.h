#pragma once
// A kernel that keeps a stream busy for a while (profiling only): launched before a burst of
// small launches, it lets the host enqueue them all while the GPU waits, so the GPU then runs
// them back to back and events between them time the kernels, not the host's launch rate.
#include <cuda_runtime_api.h>

#include <cstdint>

namespace hearth::kernels::cuda {

// One thread spins on the global timer for `nanoseconds` (capped at one second).
cudaError_t hold_stream(cudaStream_t stream, uint64_t nanoseconds);

}  // namespace hearth::kernels::cuda
