#include "kernels/cpu/memory_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#endif

#include "kernels/cpu/thread_pool.h"

namespace hearth::kernels::cpu {

namespace {

// Anonymous memory with transparent huge pages requested: the roofline is the best read
// bandwidth the machine gives, which with 4 KiB pages is capped by TLB misses (the model's
// weights live in such memory too, see core/backend/cpu/resident_weights.h).
struct HugePageArray {
  explicit HugePageArray(uint64_t n) : bytes(n * sizeof(uint64_t)) {
#ifdef __linux__
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    madvise(p, bytes, MADV_HUGEPAGE);
    data = static_cast<uint64_t*>(p);
#else
    data = new uint64_t[n];
#endif
  }
  ~HugePageArray() {
#ifdef __linux__
    munmap(data, bytes);
#else
    delete[] data;
#endif
  }
  uint64_t& operator[](int64_t i) { return data[i]; }
  uint64_t bytes;
  uint64_t* data;
};

}  // namespace

double measure_read_bandwidth(ThreadPool& pool, uint64_t bytes, int repeats) {
  const uint64_t n = bytes / sizeof(uint64_t);
  HugePageArray buffer(n);
  // First touch from the workers so pages are spread as they will be read.
  pool.parallel_for(static_cast<int64_t>(n), [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) buffer[i] = static_cast<uint64_t>(i);
  });
  std::vector<uint64_t> sums(static_cast<size_t>(pool.size()) * 8);
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(static_cast<int64_t>(n), [&](int64_t b, int64_t e, int thread) {
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int64_t i = b;
      for (; i + 4 <= e; i += 4) {
        s0 += buffer[i];
        s1 += buffer[i + 1];
        s2 += buffer[i + 2];
        s3 += buffer[i + 3];
      }
      for (; i < e; ++i) s0 += buffer[i];
      sums[static_cast<size_t>(thread) * 8] += s0 + s1 + s2 + s3;  // keeps the loop alive
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(n * sizeof(uint64_t)) / s);
  }
  return best;
}


}  // namespace hearth::kernels::cpu
