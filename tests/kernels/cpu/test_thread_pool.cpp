// ThreadPool::parallel_for: every index runs exactly once per call, calls never hang, including
// when the pool has many more threads than cores (workers are preempted mid-claim: the case that
// once let a stale worker claim a chunk of the next job, so the caller waited forever).
#include <QTest>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <random>
#include <thread>
#include <vector>

#include "kernels/cpu/thread_pool.h"

using hearth::kernels::cpu::ThreadPool;

class TestThreadPool : public QObject {
  Q_OBJECT

 private slots:
  void everyIndexOnceUnderOversubscription() {
    const uint64_t seed = std::random_device{}();
    std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
    std::mt19937_64 rng(seed);
    const int threads = static_cast<int>(std::max(4u, 4 * std::thread::hardware_concurrency()));
    ThreadPool pool(threads);
    std::vector<std::atomic<int>> hits(64);
    // Many tiny jobs of varying size back to back: the window between two jobs is where a worker
    // still leaving the previous job meets the next one's fields.
    auto run = [&] {
      for (int call = 0; call < 40000; ++call) {
        const int64_t n = std::uniform_int_distribution<int64_t>(2, 64)(rng);
        for (int64_t i = 0; i < n; ++i) hits[static_cast<size_t>(i)].store(0, std::memory_order_relaxed);
        pool.parallel_for(n, [&](int64_t begin, int64_t end, int) {
          for (int64_t i = begin; i < end; ++i) {
            // A little work per index, so workers join in and are still leaving when the next
            // job is published.
            volatile uint64_t x = static_cast<uint64_t>(i);
            for (int k = 0; k < 200; ++k) x = x * 6364136223846793005ull + 1;
            hits[static_cast<size_t>(i)].fetch_add(1, std::memory_order_relaxed);
          }
        });
        for (int64_t i = 0; i < n; ++i) {
          if (hits[static_cast<size_t>(i)].load() != 1) return call;
        }
      }
      return -1;
    };
    auto result = std::async(std::launch::async, run);
    QVERIFY2(result.wait_for(std::chrono::seconds(120)) == std::future_status::ready,
             "parallel_for hung (a call never returned)");
    const int bad_call = result.get();
    QVERIFY2(bad_call < 0, qPrintable(QString("call %1 ran an index other than exactly once").arg(bad_call)));
  }
};

QTEST_APPLESS_MAIN(TestThreadPool)
#include "test_thread_pool.moc"
