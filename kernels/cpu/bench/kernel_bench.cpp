// hearth-kernel-bench: CPU matvec throughput against the memory roofline.
//
// For each weight type and shape it reports GB/s of weight bytes streamed by Matmul::run with
// m = 1 (decode), at 1 and 2 threads, and that as a fraction of the measured memory read
// bandwidth (sum over a 1 GiB buffer). Both are the best of several trials. Each shape is replicated into enough copies to exceed
// the last-level cache and the calls rotate through them, so weights come from DRAM as they do
// in a real forward pass. Also reports the cost of small batches (m = 2, 4, 8) relative to
// m = 1 and prefill-shaped products (m = 512) in GFLOP/s.
//
// --interleaved repacks the weights of the types that have it (weight_layout.h: Q4_0, Q4_K, Q6_K)
// into the row-interleaved layout ResidentWeights can produce, and runs the group kernels.
//
// --compute prints only the compute-bound rate per core instead: m = 1 and 4 products over a
// cache-resident 2048 x 2048 matrix on one thread, timed in that thread's CPU time, row-major
// against interleaved. CPU time keeps the figure meaningful on a machine shared with other
// work, where wall-clock and DRAM figures are not.
//
// Usage: hearth-kernel-bench [--types q4_0,q4_K,...] [--threads 1,2] [--portable] [--no-prefill]
//                            [--interleaved] [--compute]
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>


#include "kernels/common/dtype.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/memory_bandwidth.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/quant_blocks.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/cpu/weight_layout.h"

using hearth::DType;
using namespace hearth::kernels;
using namespace hearth::kernels::cpu;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

constexpr size_t kStreamBytes = size_t{320} << 20;  // > 10x the L3 of the machines we target
constexpr int kTrials = 7;

struct Shape {
  int64_t n_rows, n_cols;
};

// Cheap deterministic bytes (xorshift) for large buffers.
struct Xorshift {
  uint64_t s = 0x9E3779B97F4A7C15ull;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

// One weight matrix with plausible contents: quantized types get random quants with small
// positive fp16 scales (a valid block), float types random values in [-1, 1).
std::vector<uint8_t> make_weights(DType t, const Shape& s) {
  const size_t bytes = static_cast<size_t>(*hearth::row_bytes(t, s.n_cols)) * static_cast<size_t>(s.n_rows);
  std::vector<uint8_t> w(bytes);
  Xorshift rng;
  auto uniform = [&] { return static_cast<float>(static_cast<int64_t>(rng.next() >> 40) - (1 << 23)) / (1 << 23); };
  switch (t) {
    case DType::F32:
      for (size_t i = 0; i < bytes; i += 4) {
        const float v = uniform();
        std::memcpy(&w[i], &v, 4);
      }
      return w;
    case DType::F16:
    case DType::BF16:
      for (size_t i = 0; i < bytes; i += 2) {
        const uint16_t h = t == DType::F16 ? fp32_to_fp16(uniform()) : fp32_to_bf16(uniform());
        std::memcpy(&w[i], &h, 2);
      }
      return w;
    default: break;
  }
  for (size_t i = 0; i + 8 <= bytes; i += 8) {
    const uint64_t r = rng.next();
    std::memcpy(&w[i], &r, 8);
  }
  const size_t block = hearth::traits(t).block_bytes;
  const uint16_t d = fp32_to_fp16(0.01f);
  const size_t d_offset = t == DType::Q6_K ? offsetof(BlockQ6_K, d) : 0;
  for (size_t off = 0; off < bytes; off += block) {
    std::memcpy(&w[off + d_offset], &d, 2);
    if (t == DType::Q4_K || t == DType::Q5_K) std::memcpy(&w[off + 2], &d, 2);  // dmin
  }
  return w;
}

// The layout a run measures for type t: interleaved when asked for and the type has it.
WeightLayout layout_for(DType t, bool interleaved) {
  return interleaved && supports_interleaved(t) ? WeightLayout::kInterleaved8 : WeightLayout::kRowMajor;
}

// make_weights in `layout` (the whole groups repacked; the rows after them stay as they are).
std::vector<uint8_t> make_weights(DType t, const Shape& s, WeightLayout layout) {
  std::vector<uint8_t> w = make_weights(t, s);
  if (layout == WeightLayout::kRowMajor) return w;
  std::vector<uint8_t> packed = w;
  interleave_row_groups(t, w.data(), packed.data(), s.n_cols, 0, s.n_rows / kInterleaveRows);
  return packed;
}

void run_product(Matmul& mm, DType t, WeightLayout layout, const uint8_t* w, const Shape& s, const float* x, int64_t m,
                 float* y) {
  const MatmulTarget target{t, w, s.n_rows, y, layout};
  mm.run_shared({&target, 1}, s.n_cols, x, m);
}

// The read bandwidth any matvec can hope for (GB/s), over the same 1 GiB each time.
double memory_read_gbps(ThreadPool& pool) { return measure_read_bandwidth(pool, size_t{1} << 30, kTrials) / 1e9; }

// Seconds per call of an m-row product, rotating through enough weight copies to defeat the
// caches. Shared machines are noisy, so this is the best of several trials, each one pass over
// all copies (>= kStreamBytes), like the bandwidth figure it is compared with.
double streaming_seconds_per_call(Matmul& mm, DType t, WeightLayout layout, const Shape& s, int64_t m) {
  const std::vector<uint8_t> one = make_weights(t, s, layout);
  const size_t copies = std::max<size_t>(2, (kStreamBytes + one.size() - 1) / one.size());
  std::vector<std::vector<uint8_t>> w(copies, one);
  std::vector<float> x(static_cast<size_t>(s.n_cols * m)), y(static_cast<size_t>(s.n_rows * m));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
  for (auto& c : w) run_product(mm, t, layout, c.data(), s, x.data(), m, y.data());  // warm-up
  double best = 1e30;
  for (int trial = 0; trial < kTrials; ++trial) {
    const auto t0 = Clock::now();
    for (auto& c : w) run_product(mm, t, layout, c.data(), s, x.data(), m, y.data());
    best = std::min(best, seconds_since(t0) / static_cast<double>(copies));
  }
  return best;
}

// GB/s of weight bytes for m = 1 (decode) products.
double matvec_gbps(Matmul& mm, DType t, WeightLayout layout, const Shape& s) {
  const double bytes = static_cast<double>(*hearth::row_bytes(t, s.n_cols)) * static_cast<double>(s.n_rows);
  return bytes / streaming_seconds_per_call(mm, t, layout, s, 1) / 1e9;
}

// GFLOP/s (2 * rows * cols * m) of a prefill-shaped product; weights stay cache-resident in tiles.
double prefill_gflops(Matmul& mm, DType t, WeightLayout layout, const Shape& s, int64_t m) {
  const std::vector<uint8_t> w = make_weights(t, s, layout);
  std::vector<float> x(static_cast<size_t>(s.n_cols * m)), y(static_cast<size_t>(s.n_rows * m));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
  run_product(mm, t, layout, w.data(), s, x.data(), m, y.data());
  int calls = 0;
  const auto t0 = Clock::now();
  while (seconds_since(t0) < 1.0 || calls < 2) {
    run_product(mm, t, layout, w.data(), s, x.data(), m, y.data());
    ++calls;
  }
  return 2.0 * static_cast<double>(s.n_rows * s.n_cols * m) * calls / seconds_since(t0) / 1e9;
}

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// GB/s of weight bytes per core for an m-row product over a cache-resident matrix, best of 5
// trials of 100 calls, in thread CPU time (one thread: the pool runs everything on the caller).
double compute_gbps_per_core(SimdLevel level, DType t, WeightLayout layout, int64_t m) {
  const Shape s{2048, 2048};
  const std::vector<uint8_t> w = make_weights(t, s, layout);
  std::vector<float> x(static_cast<size_t>(s.n_cols * m)), y(static_cast<size_t>(s.n_rows * m));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
  ThreadPool pool(1);
  Matmul mm(pool, level);
  for (int i = 0; i < 20; ++i) run_product(mm, t, layout, w.data(), s, x.data(), m, y.data());
  double best = 1e30;
  for (int trial = 0; trial < 5; ++trial) {
    const double t0 = thread_cpu_seconds();
    for (int i = 0; i < 100; ++i) run_product(mm, t, layout, w.data(), s, x.data(), m, y.data());
    best = std::min(best, (thread_cpu_seconds() - t0) / 100);
  }
  return static_cast<double>(w.size()) / best / 1e9;
}

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const size_t comma = s.find(',');
    out.emplace_back(s.substr(0, comma));
    s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<DType> types = {DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K,
                              DType::Q8_0, DType::F16,  DType::BF16, DType::F32};
  std::vector<int> thread_counts = {1, 2};
  SimdLevel level = detect_simd_level();
  bool prefill = true;
  bool interleaved = false;
  bool compute = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--types" && i + 1 < argc) {
      types.clear();
      for (const auto& name : split(argv[++i])) {
        for (const auto& tr : hearth::kDTypeTable) {
          if (tr.name == name) types.push_back(tr.type);
        }
      }
    } else if (arg == "--threads" && i + 1 < argc) {
      thread_counts.clear();
      for (const auto& n : split(argv[++i])) thread_counts.push_back(std::max(1, std::atoi(n.c_str())));
    } else if (arg == "--portable") {
      level = SimdLevel::kPortable;
    } else if (arg == "--no-prefill") {
      prefill = false;
    } else if (arg == "--interleaved") {
      interleaved = true;
    } else if (arg == "--compute") {
      compute = true;
    } else {
      std::fprintf(stderr, "usage: %s [--types q4_0,q4_K,...] [--threads 1,2] [--portable] [--no-prefill] [--interleaved] [--compute]\n",
                   argv[0]);
      return 2;
    }
  }
  std::printf("kernel level: %s%s\n", simd_level_name(level), interleaved ? ", interleaved weights (q4_0, q4_K, q6_K)" : "");

  if (compute) {
    std::printf("compute-bound m=1 / m=4 products, 2048 x 2048 cache-resident, 1 thread: GB/s of weights per core "
                "(thread CPU time, best of 5)\n");
    for (DType t : types) {
      if (!supports_interleaved(t)) continue;
      for (WeightLayout layout : {WeightLayout::kRowMajor, WeightLayout::kInterleaved8}) {
        std::printf("%-6s %-12s m=1 %6.1f   m=4 %6.1f\n", std::string(hearth::dtype_name(t)).c_str(),
                    layout == WeightLayout::kRowMajor ? "row-major" : "interleaved8",
                    compute_gbps_per_core(level, t, layout, 1), compute_gbps_per_core(level, t, layout, 4));
        std::fflush(stdout);
      }
    }
    return 0;
  }

  // The read bandwidth is measured once up front and again right before every matvec figure,
  // which is compared with the latter: on a shared machine the bandwidth drifts over minutes.
  for (int n : thread_counts) {
    ThreadPool pool(n);
    std::printf("memory read bandwidth (1 GiB sum), %d thread(s): %.1f GB/s\n", n, memory_read_gbps(pool));
  }

  const Shape shapes[] = {{4096, 4096}, {2048, 8192}, {128256, 2048}};
  std::printf("\nmatvec m=1: GB/s of weights, best of %d (%% of the read bandwidth measured just before, GB/s)\n",
              kTrials);
  std::printf("%-6s %-14s", "type", "rows x cols");
  for (int n : thread_counts) std::printf("  %d thread(s)             ", n);
  std::printf("\n");
  for (DType t : types) {
    for (const Shape& s : shapes) {
      std::printf("%-6s %6lld x %-5lld", std::string(hearth::dtype_name(t)).c_str(), static_cast<long long>(s.n_rows),
                  static_cast<long long>(s.n_cols));
      for (int n : thread_counts) {
        ThreadPool pool(n);
        Matmul mm(pool, level);
        const double roofline = memory_read_gbps(pool);
        const double gbps = matvec_gbps(mm, t, layout_for(t, interleaved), s);
        std::printf("  %6.1f (%5.1f%% of %5.1f)", gbps, 100.0 * gbps / roofline, roofline);
        std::fflush(stdout);
      }
      std::printf("\n");
    }
  }

  std::printf("\nsmall batches, 4096 x 4096: time per call relative to m=1 (weights from DRAM)\n");
  for (DType t : {DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
    if (std::find(types.begin(), types.end(), t) == types.end()) continue;
    std::printf("%-6s", std::string(hearth::dtype_name(t)).c_str());
    for (int n : thread_counts) {
      ThreadPool pool(n);
      Matmul mm(pool, level);
      const WeightLayout layout = layout_for(t, interleaved);
      const double base = streaming_seconds_per_call(mm, t, layout, {4096, 4096}, 1);
      std::printf("  %d thread(s): m=1 %.0f us", n, base * 1e6);
      for (int64_t m : {2, 4, 8}) {
        std::printf(", m=%lld x%.2f", static_cast<long long>(m), streaming_seconds_per_call(mm, t, layout, {4096, 4096}, m) / base);
      }
      std::fflush(stdout);
    }
    std::printf("\n");
  }

  if (prefill) {
    std::printf("\nprefill 4096 x 4096, m=512, GFLOP/s\n");
    for (DType t : types) {
      std::printf("%-6s", std::string(hearth::dtype_name(t)).c_str());
      for (int n : thread_counts) {
        ThreadPool pool(n);
        Matmul mm(pool, level);
        std::printf("  %d thread(s): %6.1f", n, prefill_gflops(mm, t, layout_for(t, interleaved), {4096, 4096}, 512));
        std::fflush(stdout);
      }
      std::printf("\n");
    }
  }
  return 0;
}
