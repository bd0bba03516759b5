#pragma once
// Measured DRAM read bandwidth, the roofline for CPU decode (every weight is read once per token).
#include <cstdint>

namespace hearth::kernels::cpu {
class ThreadPool;
}

namespace hearth::cli {

// Best of `repeats` passes summing a `bytes`-sized buffer with the pool's threads; bytes/second.
double measure_read_bandwidth(kernels::cpu::ThreadPool& pool, uint64_t bytes = 1ull << 30, int repeats = 3);

// Resident and peak resident memory of this process, bytes (0 where unknown).
uint64_t resident_bytes();
uint64_t peak_resident_bytes();

}  // namespace hearth::cli
