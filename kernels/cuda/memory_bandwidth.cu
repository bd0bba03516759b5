// measure_device_bandwidth (memory_bandwidth.h): median times of D2D memcpy, a copy kernel and a
// read-only kernel over large buffers, timed with CUDA events.
#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

#include "kernels/cuda/memory_bandwidth.h"

namespace hearth::kernels::cuda {
namespace {

__global__ void copy_kernel(const uint4* __restrict__ src, uint4* __restrict__ dst, size_t n) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) dst[i] = src[i];
}

// Sums the words so the loads cannot be removed; one int per block written (never read).
__global__ void read_kernel(const uint4* __restrict__ src, size_t n, unsigned* __restrict__ sink) {
  unsigned acc = 0;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) {
    const uint4 v = src[i];
    acc ^= v.x + v.y + v.z + v.w;
  }
  if (acc == 0x9E3779B9u) sink[blockIdx.x] = acc;  // practically never, but the compiler can't know
}

class Buffers {
 public:
  ~Buffers() {
    for (void* p : ptrs_) cudaFree(p);
    if (start_) cudaEventDestroy(start_);
    if (stop_) cudaEventDestroy(stop_);
  }
  cudaError_t alloc(size_t bytes, void** p) {
    const cudaError_t e = cudaMalloc(p, bytes);
    if (e == cudaSuccess) ptrs_.push_back(*p);
    return e;
  }
  std::vector<void*> ptrs_;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

template <typename Launch>
cudaError_t median_ms(Buffers& b, int iterations, cudaStream_t s, Launch launch, double* ms) {
  std::vector<float> times;
  for (int i = -2; i < iterations; ++i) {  // two warm-ups
    cudaError_t e = cudaEventRecord(b.start_, s);
    if (e == cudaSuccess) e = launch();
    if (e == cudaSuccess) e = cudaEventRecord(b.stop_, s);
    if (e == cudaSuccess) e = cudaEventSynchronize(b.stop_);
    float t = 0;
    if (e == cudaSuccess) e = cudaEventElapsedTime(&t, b.start_, b.stop_);
    if (e != cudaSuccess) return e;
    if (i >= 0) times.push_back(t);
  }
  std::sort(times.begin(), times.end());
  *ms = times[times.size() / 2];
  return cudaSuccess;
}

}  // namespace

cudaError_t measure_device_bandwidth(size_t bytes, int iterations, cudaStream_t stream, DeviceBandwidth* out) {
  if (out == nullptr || iterations < 1 || bytes < 16) return cudaErrorInvalidValue;
  bytes = bytes / 16 * 16;
  Buffers b;
  void *src = nullptr, *dst = nullptr, *sink = nullptr;
  cudaError_t e = b.alloc(bytes, &src);
  if (e == cudaSuccess) e = b.alloc(bytes, &dst);
  if (e == cudaSuccess) e = b.alloc(1 << 20, &sink);
  if (e == cudaSuccess) e = cudaMemsetAsync(src, 0x5A, bytes, stream);
  if (e == cudaSuccess) e = cudaEventCreate(&b.start_);
  if (e == cudaSuccess) e = cudaEventCreate(&b.stop_);
  if (e != cudaSuccess) return e;
  int device = 0, sms = 0;
  if ((e = cudaGetDevice(&device)) != cudaSuccess) return e;
  if ((e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device)) != cudaSuccess) return e;
  const size_t n16 = bytes / 16;
  const unsigned grid = static_cast<unsigned>(std::min<size_t>((n16 + 255) / 256, static_cast<size_t>(sms) * 8));

  double ms = 0;
  e = median_ms(b, iterations, stream, [&] { return cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream); }, &ms);
  if (e != cudaSuccess) return e;
  out->memcpy_gbps = 2.0 * bytes / (ms * 1e6);
  e = median_ms(b, iterations, stream, [&] {
        copy_kernel<<<grid, 256, 0, stream>>>(static_cast<const uint4*>(src), static_cast<uint4*>(dst), n16);
        return cudaGetLastError();
      }, &ms);
  if (e != cudaSuccess) return e;
  out->copy_kernel_gbps = 2.0 * bytes / (ms * 1e6);
  e = median_ms(b, iterations, stream, [&] {
        read_kernel<<<grid, 256, 0, stream>>>(static_cast<const uint4*>(src), n16, static_cast<unsigned*>(sink));
        return cudaGetLastError();
      }, &ms);
  if (e != cudaSuccess) return e;
  out->read_kernel_gbps = 1.0 * bytes / (ms * 1e6);
  return cudaStreamSynchronize(stream);
}

}  // namespace hearth::kernels::cuda
