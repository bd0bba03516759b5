#pragma once
// A fixed set of worker threads for data-parallel kernels. parallel_for splits [0, n) into
// contiguous chunks, one per thread, and returns when all are done. The calling thread
// takes part as thread 0, so ThreadPool(1) spawns nothing.
//
// Decode calls parallel_for a hundred times or more per token, microseconds apart, so waking
// sleeping threads through a condition variable each time would cost more than the work. Workers
// therefore spin briefly on an atomic job counter after each job and only then sleep.
// The range is cut into more chunks than threads and every thread, the caller included, claims
// chunks until none are left: a worker that the OS has not scheduled yet simply gets no chunk,
// so a busy machine slows a step down a little instead of stalling it on the slowest thread.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hearth::kernels::cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // A user's thread-count setting: itself when positive, else every hardware thread (at least 1).
  static int resolve_count(int requested) {
    if (requested > 0) return requested;
    const unsigned hw = std::thread::hardware_concurrency();
    return hw > 0 ? static_cast<int>(hw) : 1;
  }

  // fn(begin, end, thread_index) over a partition of [0, n) into contiguous chunks; a thread may
  // get several chunks or none. Not reentrant: one parallel_for at a time per pool.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn);

 private:
  void worker_loop(int index);
  void run_chunks(uint64_t generation, int thread_index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;  // guards sleeping on start_cv_
  std::condition_variable start_cv_;
  // The current job; written by the caller before generation_ is bumped, read by a thread only
  // after it claimed a chunk of that generation (the job cannot end before that chunk is done).
  const std::function<void(int64_t, int64_t, int)>* job_ = nullptr;
  std::atomic<int64_t> job_n_{0};
  std::atomic<int64_t> n_chunks_{0};
  uint64_t last_generation_ = 0;              // caller only
  std::atomic<uint64_t> generation_{0};       // the job workers should look at
  std::atomic<uint64_t> claim_{0};            // (generation << 32) | next unclaimed chunk
  std::atomic<int64_t> done_chunks_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace hearth::kernels::cpu
