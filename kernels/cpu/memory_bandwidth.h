#pragma once
// Measured DRAM read bandwidth: the roofline for decode, which reads every weight once per token.
#include <cstdint>

namespace hearth::kernels::cpu {

class ThreadPool;

// Best of `repeats` passes summing a `bytes`-sized buffer (huge pages requested) with the pool's
// threads, after one warm-up pass; bytes/second.
double measure_read_bandwidth(ThreadPool& pool, uint64_t bytes = 1ull << 30, int repeats = 3);

}  // namespace hearth::kernels::cpu
