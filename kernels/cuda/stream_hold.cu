#include "kernels/cuda/stream_hold.h"

namespace hearth::kernels::cuda {
namespace {

__device__ uint64_t global_timer_ns() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void hold_kernel(uint64_t nanoseconds) {
  const uint64_t start = global_timer_ns();
  while (global_timer_ns() - start < nanoseconds) {
  }
}

}  // namespace

cudaError_t hold_stream(cudaStream_t stream, uint64_t nanoseconds) {
  constexpr uint64_t kMax = 1000000000ull;
  hold_kernel<<<1, 1, 0, stream>>>(nanoseconds < kMax ? nanoseconds : kMax);
  return cudaGetLastError();
}

}  // namespace hearth::kernels::cuda
