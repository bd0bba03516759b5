#include "kernels/cpu/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define HEARTH_CPU_RELAX() _mm_pause()
#else
#define HEARTH_CPU_RELAX() std::this_thread::yield()
#endif

namespace hearth::kernels::cpu {

namespace {

// How long an idle worker keeps spinning before it sleeps: long enough to cover the gap between
// two kernels of a decode step, short enough not to burn a core while the user reads.
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(2000);
// Chunks per thread: enough to balance uneven progress, few enough to keep per-chunk cost small.
constexpr int64_t kChunksPerThread = 8;
// A claim word whose chunk index is past every job's chunk count: nothing can be claimed.
constexpr uint64_t kClaimClosed = 0xFFFFFFFFu;

// Chunk `index` of an even split of [0, n) into `parts` pieces.
std::pair<int64_t, int64_t> chunk(int64_t n, int64_t parts, int64_t index) {
  const int64_t base = n / parts, extra = n % parts;
  const int64_t begin = index * base + std::min<int64_t>(index, extra);
  return {begin, begin + base + (index < extra ? 1 : 0)};
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  workers_.reserve(n_threads_ - 1);
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stop_.store(true);
  }
  start_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_chunks(uint64_t generation, int thread_index) {
  uint64_t c = claim_.load(std::memory_order_acquire);
  for (;;) {
    if ((c >> 32) != (generation & 0xFFFFFFFFu)) return;  // a newer job, or this one is over
    const int64_t k = static_cast<int64_t>(c & 0xFFFFFFFFu);
    if (k >= n_chunks_.load(std::memory_order_relaxed)) return;  // all chunks taken
    if (!claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    const auto [begin, end] = chunk(job_n_.load(std::memory_order_relaxed), n_chunks_.load(std::memory_order_relaxed), k);
    (*job_)(begin, end, thread_index);
    done_chunks_.fetch_add(1, std::memory_order_acq_rel);
    c = claim_.load(std::memory_order_acquire);
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  if (n_threads_ == 1 || n == 1) {
    fn(0, n, 0);
    return;
  }
  const int64_t n_chunks = std::min<int64_t>(n, kChunksPerThread * n_threads_);
  const uint64_t generation = ++last_generation_;
  // Close the claim word first, before any field of the new job is written. A worker still in
  // run_chunks() for the previous job may hold that job's last claim word; if it read the new
  // n_chunks_ it would see room for one more chunk, and its compare-exchange against the old word
  // must then fail. Without this it could claim (and count) a chunk of the new job before the
  // job's claim word was published: done_chunks_ then overshoots n_chunks and the caller waits
  // forever (seen as a whole-engine stall under heavy CPU load).
  claim_.store(((generation & 0xFFFFFFFFu) << 32) | kClaimClosed, std::memory_order_seq_cst);
  job_ = &fn;
  job_n_.store(n, std::memory_order_relaxed);
  n_chunks_.store(n_chunks, std::memory_order_relaxed);
  done_chunks_.store(0, std::memory_order_relaxed);
  claim_.store((generation & 0xFFFFFFFFu) << 32, std::memory_order_release);
  generation_.store(generation, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard lock(mutex_);  // pairs with the predicate check of a worker going to sleep
  }
  start_cv_.notify_all();
  run_chunks(generation, 0);
  // Only chunks already claimed by a worker remain; wait for them.
  for (int spins = 0; done_chunks_.load(std::memory_order_acquire) != n_chunks; ++spins) {
    if (spins < 4096) {
      HEARTH_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }
  job_ = nullptr;
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t current = generation_.load(std::memory_order_acquire);
    if (current == seen) {
      const auto spin_until = std::chrono::steady_clock::now() + kSpinBeforeSleep;
      for (int i = 0; current == seen && !stop_.load(std::memory_order_relaxed); ++i) {
        HEARTH_CPU_RELAX();
        current = generation_.load(std::memory_order_acquire);
        if ((i & 255) == 255 && std::chrono::steady_clock::now() > spin_until) break;
      }
    }
    if (current == seen && !stop_.load()) {
      std::unique_lock lock(mutex_);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      start_cv_.wait(lock, [&] { return stop_.load() || generation_.load(std::memory_order_seq_cst) != seen; });
      sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      current = generation_.load(std::memory_order_acquire);
    }
    if (stop_.load()) return;
    seen = current;
    run_chunks(current, index);
  }
}

}  // namespace hearth::kernels::cpu
