// Restore throughput of SqliteKvStore alone (no model): saves a chain of blocks of random F32
// or F16-like data, then reads it back through load_chain in the engine's 64 MiB windows on a
// fresh connection, and prints wall and CPU GB/s. A profiling tool, not a test:
//   kv_store_throughput [DB_PATH] [N_BLOCKS] [BLOCK_MIB] [VERIFY_THREADS] [reuse]
// With "reuse" the database of an earlier run with the same sizes is read without saving again
// (for profiling the read alone).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "storage/sqlite_kv_store.h"

using namespace hearth;

namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path path = argc > 1 ? argv[1] : "/tmp/kv_store_throughput.db";
  const int n_blocks = argc > 2 ? std::atoi(argv[2]) : 128;
  const int block_mib = argc > 3 ? std::atoi(argv[3]) : 1;
  const int threads = argc > 4 ? std::atoi(argv[4]) : 0;
  const bool reuse = argc > 5 && std::string(argv[5]) == "reuse";
  // head_dim 64, 16 tokens, F32: 4 KiB per (layer, K/V, head); layers x heads make up the MiB.
  KvGeometry g{.n_layer = 16 * block_mib, .n_kv_head = 8, .head_dim = 64, .block_tokens = 16, .dtype = DType::F32};
  const KvFingerprint fp{1, g};
  std::error_code ec;
  if (!reuse) {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix, ec);
  }

  std::vector<KvBlockRecord> blocks(static_cast<size_t>(reuse ? 0 : n_blocks));
  std::vector<uint64_t> hashes;
  for (int i = 0; i < n_blocks; ++i) hashes.push_back(static_cast<uint64_t>(i + 1));
  std::mt19937 rng(1);
  std::normal_distribution<float> value(0.f, 1.f);
  for (int i = 0; i < static_cast<int>(blocks.size()); ++i) {
    auto& b = blocks[static_cast<size_t>(i)];
    b.chain_hash = static_cast<uint64_t>(i + 1);
    b.parent_hash = static_cast<uint64_t>(i);
    b.tokens.assign(static_cast<size_t>(g.block_tokens), i);
    b.data.resize(static_cast<size_t>(g.block_bytes()));
    auto* f = reinterpret_cast<float*>(b.data.data());
    for (size_t k = 0; k < b.data.size() / 4; ++k) f[k] = value(rng);
  }
  const double total = double(n_blocks) * double(g.block_bytes());
  SqliteKvStoreOptions options{.max_total_bytes = int64_t{64} << 30, .max_group_bytes = int64_t{64} << 30};
  options.verify_threads = threads;
  if (!reuse) {
    SqliteKvStore store(path, options);
    const double t0 = now_seconds(), c0 = cpu_seconds();
    store.save(fp, "bench", blocks);
    std::printf("save: %.3f s wall, %.3f s cpu, %.2f GB/s\n", now_seconds() - t0, cpu_seconds() - c0,
                total / (now_seconds() - t0) / 1e9);
  }
  blocks.clear();
  for (int round = 0; round < 3; ++round) {
    SqliteKvStore store(path, options);  // a fresh connection, as after a restart
    const size_t window = std::max<size_t>(1, (size_t{64} << 20) / static_cast<size_t>(g.block_bytes()));
    const double t0 = now_seconds(), c0 = cpu_seconds();
    size_t loaded = 0;
    for (size_t first = 0; first < hashes.size(); first += window) {
      const size_t n = std::min(window, hashes.size() - first);
      const auto got = store.load_chain(fp, std::span<const uint64_t>(hashes).subspan(first, n));
      for (const auto& r : got) loaded += r ? 1 : 0;
    }
    const double wall = now_seconds() - t0, cpu = cpu_seconds() - c0;
    std::printf("load_chain: %zu blocks, %.3f s wall, %.3f s cpu, %.2f GB/s wall\n", loaded, wall, cpu,
                total / wall / 1e9);
  }
  return 0;
}
