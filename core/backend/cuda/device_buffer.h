#pragma once
// Owning handles for device and pinned host memory (host side of the CUDA backend).
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <cstddef>
#include <utility>

#include "core/backend/cuda/cuda_check.h"

namespace hearth::cuda_detail {

inline std::string gib(double bytes) { return fmt::format("{:.2f} GiB", bytes / double(1ull << 30)); }

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // Throws hearth::Error naming the size and the free memory when the allocation fails.
  DeviceBuffer(size_t bytes, std::string_view what) : bytes_(bytes) {
    if (bytes == 0) return;
    const cudaError_t e = cudaMalloc(&ptr_, bytes);
    if (e != cudaSuccess) {
      ptr_ = nullptr;
      (void)cudaGetLastError();  // clear the (non-sticky) allocation error
      size_t free = 0, total = 0;
      (void)cudaMemGetInfo(&free, &total);
      throw Error(fmt::format("out of GPU memory allocating {} for {} ({} free of {}): {}", gib(double(bytes)), what,
                              gib(double(free)), gib(double(total)), cudaGetErrorString(e)));
    }
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  ~DeviceBuffer() { reset(); }

  void reset() {
    if (ptr_) (void)cudaFree(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
  }
  template <typename T = void>
  T* get() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  PinnedBuffer(size_t bytes, std::string_view what) : bytes_(bytes) {
    if (bytes == 0) return;
    const cudaError_t e = cudaMallocHost(&ptr_, bytes);
    if (e != cudaSuccess) {
      ptr_ = nullptr;
      (void)cudaGetLastError();
      throw Error(fmt::format("cannot allocate {} of pinned host memory for {}: {}", gib(double(bytes)), what,
                              cudaGetErrorString(e)));
    }
  }
  PinnedBuffer(PinnedBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    if (this != &o) {
      if (ptr_) (void)cudaFreeHost(ptr_);
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  ~PinnedBuffer() {
    if (ptr_) (void)cudaFreeHost(ptr_);
  }
  template <typename T = void>
  T* get() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace hearth::cuda_detail
