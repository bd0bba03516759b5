#pragma once
// Measured device-memory bandwidth: the roofline that decode (weights read once per step) is
// compared against. Used by the kernel benchmark and by `hearth-cli bench --device cuda`.
#include <cuda_runtime_api.h>

#include <cstddef>

namespace hearth::kernels::cuda {

struct DeviceBandwidth {
  double memcpy_gbps = 0;      // cudaMemcpyAsync device-to-device, bytes read + bytes written
  double copy_kernel_gbps = 0;  // a 16-byte-per-thread copy kernel, bytes read + bytes written
  double read_kernel_gbps = 0;  // a kernel that only reads (sums) the buffer: bytes read
};

// Allocates two buffers of `bytes` (use several times the L2 size, e.g. 1 GiB), times each
// method `iterations` times after a warm-up and reports the median. Frees what it allocated.
cudaError_t measure_device_bandwidth(size_t bytes, int iterations, cudaStream_t stream, DeviceBandwidth* out);

}  // namespace hearth::kernels::cuda
