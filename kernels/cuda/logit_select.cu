// The best k entries of each logits row (logit_select.h). [host5]
#include "kernels/cuda/logit_select.h"

#include <algorithm>
#include <cstdint>

namespace hearth::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kChunk = 4096;     // entries per first-stage block
constexpr int kMaxItems = 4096;  // keys one block holds in shared memory (32 KB)

// Orderable 64-bit key: the value's bits mapped so that unsigned order is float order (NaN -> 0,
// below everything; -0 -> +0), then ~id so that among equal values the lower id is larger. 0 is
// never a real entry's key (-inf maps to 0x007fffff in the high word).
__device__ __forceinline__ uint64_t make_key(float v, uint32_t id) {
  if (v != v) return 0;
  uint32_t bits = v == 0.0f ? 0u : __float_as_uint(v);
  bits = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  return (static_cast<uint64_t>(bits) << 32) | static_cast<uint64_t>(~id);
}

__device__ __forceinline__ LogitCandidate from_key(uint64_t key) {
  if (key == 0) return LogitCandidate{-1, __uint_as_float(0x7fc00000u)};
  uint32_t bits = static_cast<uint32_t>(key >> 32);
  bits = (bits & 0x80000000u) ? (bits & 0x7fffffffu) : ~bits;
  return LogitCandidate{static_cast<int32_t>(~static_cast<uint32_t>(key)), __uint_as_float(bits)};
}

__device__ __forceinline__ uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

// The k largest of keys[0, n) (shared memory; taken ones are zeroed) into out[0, k), largest
// first, 0 past the non-zero ones. Every thread of the block calls it.
__device__ void block_top_k(uint64_t* keys, int n, int k, uint64_t* out) {
  __shared__ uint64_t warp_best[2][kWarps];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  uint64_t mine = 0;  // this thread's largest remaining key
  for (int i = threadIdx.x; i < n; i += kThreads) mine = max_u64(mine, keys[i]);
  for (int r = 0; r < k; ++r) {
    uint64_t b = mine;
    for (int offset = 16; offset > 0; offset >>= 1) b = max_u64(b, __shfl_xor_sync(0xffffffffu, b, offset));
    if (lane == 0) warp_best[r & 1][warp] = b;
    __syncthreads();  // two buffers: iteration r + 2 writes this one after everyone passed r + 1's barrier
    uint64_t best = 0;
    for (int w = 0; w < kWarps; ++w) best = max_u64(best, warp_best[r & 1][w]);
    if (best == 0) {  // the same for every thread: nothing left
      for (int j = r + threadIdx.x; j < k; j += kThreads) out[j] = 0;
      return;
    }
    if (threadIdx.x == 0) out[r] = best;
    if (mine == best) {  // keys are unique: one owner removes it and rescans its share
      uint64_t next = 0;
      for (int i = threadIdx.x; i < n; i += kThreads) {
        if (keys[i] == best) keys[i] = 0;
        next = max_u64(next, keys[i]);
      }
      mine = next;
    }
  }
}

// grid (chunks, rows): chunk c of row r -> its k best keys at partial[(r * chunks + c) * k].
__global__ void select_chunks(const float* __restrict__ logits, int64_t n_vocab, int k, uint64_t* __restrict__ partial) {
  __shared__ uint64_t keys[kChunk];
  const int64_t row = blockIdx.y;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kChunk;
  const int n = static_cast<int>(n_vocab - first < kChunk ? n_vocab - first : kChunk);
  const float* in = logits + row * n_vocab + first;
  for (int i = threadIdx.x; i < n; i += kThreads) keys[i] = make_key(in[i], static_cast<uint32_t>(first + i));
  __syncthreads();
  block_top_k(keys, n, k, partial + (row * gridDim.x + blockIdx.x) * k);
}

// grid (rows): merges a row's chunks' lists into out[row * k ..].
__global__ void merge_chunks(const uint64_t* __restrict__ partial, int chunks, int k, LogitCandidate* __restrict__ out) {
  __shared__ uint64_t keys[kMaxItems];
  __shared__ uint64_t top[kLogitSelectMaxK];
  const int64_t row = blockIdx.x;
  const int n = chunks * k;
  for (int i = threadIdx.x; i < n; i += kThreads) keys[i] = partial[row * n + i];
  __syncthreads();
  block_top_k(keys, n, k, top);
  __syncthreads();
  for (int r = threadIdx.x; r < k; r += kThreads) out[row * k + r] = from_key(top[r]);
}

int64_t chunks_of(int64_t n_vocab) { return (n_vocab + kChunk - 1) / kChunk; }

}  // namespace

size_t logit_select_workspace_bytes(int64_t rows, int64_t n_vocab, int32_t k) {
  if (rows < 0 || n_vocab <= 0 || k < 1 || k > kLogitSelectMaxK) return 0;
  const int64_t chunks = chunks_of(n_vocab);
  if (chunks * k > kMaxItems) return 0;
  return static_cast<size_t>(std::max<int64_t>(rows, 1) * chunks * k) * sizeof(uint64_t);
}

cudaError_t logit_select_top_k(const float* logits, int64_t rows, int64_t n_vocab, int32_t k, void* workspace,
                               size_t workspace_bytes, LogitCandidate* out, cudaStream_t stream) {
  const size_t need = logit_select_workspace_bytes(rows, n_vocab, k);
  if (need == 0 || workspace_bytes < need || rows > 65535) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  const int64_t chunks = chunks_of(n_vocab);
  auto* partial = static_cast<uint64_t*>(workspace);
  select_chunks<<<dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(rows)), kThreads, 0, stream>>>(logits, n_vocab, k, partial);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  merge_chunks<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(partial, static_cast<int>(chunks), k, out);
  return cudaGetLastError();
}

}  // namespace hearth::kernels::cuda
