#pragma once
// Programmatic dependent launch (sm_90+) for the chain of small kernels of a decode step: each
// kernel is launched with the programmatic-serialization attribute, so the GPU may launch it
// while the previous kernel in the stream is still running (overlapping launch latency and the
// block ramp-up with that kernel's tail), and each kernel begins with wait_for_previous_grid(),
// which returns once the previous grid has completed and its memory is visible. A kernel that
// waits before touching global memory therefore sees exactly what stream order guarantees.
// Captured into a CUDA graph, the attribute becomes a programmatic edge. Before sm_90 the
// launches are plain and the device functions are no-ops.
#include <cuda_runtime.h>

#include <cstdlib>
#include <utility>

namespace hearth::kernels::cuda::detail {

// Waits until the grids this one depends on have completed and their writes are visible. A
// no-op without the launch attribute and before sm_90.
__device__ __forceinline__ void wait_for_previous_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
// Lets the dependent kernel launched with that attribute start (it still waits for our results
// in wait_for_previous_grid before reading them).
__device__ __forceinline__ void allow_dependent_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
#endif
}
// The first statement of a chained kernel: wait for the previous grid, then let the next one
// launch.
__device__ __forceinline__ void begin_chained_kernel() {
  wait_for_previous_grid();
  allow_dependent_launch();
}

// Whether launches may use programmatic dependent launch: the current device has it (compute
// capability 9.0+) and the environment does not say HEARTH_CUDA_NO_PDL=1 (a switch to measure
// what it saves, or to rule it out when something looks wrong; read at each launch, so it works
// for graphs captured after it is set).
inline bool device_has_programmatic_launch() {
  if (const char* off = std::getenv("HEARTH_CUDA_NO_PDL"); off && off[0] == '1') return false;
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) return false;
  return major >= 9;
}

// kernel<<<grid, block, shared, stream>>>(args...) with the programmatic-serialization attribute
// where the device has it. The kernel must begin with begin_chained_kernel() (or wait before its
// first global memory access).
template <typename... Params, typename... Args>
cudaError_t launch_chained(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared, cudaStream_t stream,
                           Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared;
  config.stream = stream;
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  if (device_has_programmatic_launch()) {
    config.attrs = &attribute;
    config.numAttrs = 1;
  }
  const cudaError_t e = cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
  return e != cudaSuccess ? e : cudaGetLastError();
}

}  // namespace hearth::kernels::cuda::detail
