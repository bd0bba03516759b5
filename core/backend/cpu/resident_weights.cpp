#include "core/backend/cpu/resident_weights.h"

#include <cstdlib>
#include <cstring>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "core/common/error.h"
#include "kernels/cpu/thread_pool.h"

namespace hearth {

namespace {

constexpr size_t kAlignment = 64;  // cache line; rows keep their in-file alignment relative to it

size_t aligned(size_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

// Every distinct matrix of the model, in a fixed order.
std::vector<MatrixView*> matrices(ModelWeights& w) {
  std::vector<MatrixView*> out = {&w.token_embd};
  if (w.output.data != w.token_embd.data) out.push_back(&w.output);
  for (auto& l : w.layers) {
    for (MatrixView* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) out.push_back(m);
  }
  return out;
}

void* allocate(size_t bytes) {
#ifdef __linux__
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  madvise(p, bytes, MADV_HUGEPAGE);  // a hint: without THP this is plain anonymous memory
  return p;
#else
  return std::aligned_alloc(kAlignment, aligned(bytes));
#endif
}

void release(void* p, size_t bytes) {
  if (!p) return;
#ifdef __linux__
  munmap(p, bytes);
#else
  std::free(p);
#endif
}

}  // namespace

ResidentWeights::ResidentWeights(const ModelWeights& source, kernels::cpu::ThreadPool& pool) : weights_(source) {
  const bool tied = weights_.output.data == weights_.token_embd.data;
  auto list = matrices(weights_);
  for (const MatrixView* m : list) bytes_ += aligned(m->bytes());
  memory_ = allocate(bytes_);
  if (!memory_) throw Error("cannot allocate " + std::to_string(bytes_ >> 20) + " MiB for the model weights");
  std::vector<const void*> from;
  std::vector<uint8_t*> to;
  auto* cursor = static_cast<uint8_t*>(memory_);
  for (MatrixView* m : list) {
    from.push_back(m->data);
    to.push_back(cursor);
    m->data = cursor;
    cursor += aligned(m->bytes());
  }
  if (tied) weights_.output = weights_.token_embd;
  // Copy in parallel, in 4 MiB pieces, so the pages are first touched by the threads that read
  // them most (and the copy of a multi-gigabyte model takes a moment, not seconds per core).
  constexpr size_t kPiece = 4u << 20;
  struct Piece { const uint8_t* src; uint8_t* dst; size_t n; };
  std::vector<Piece> pieces;
  for (size_t i = 0; i < list.size(); ++i) {
    const size_t n = list[i]->bytes();
    for (size_t off = 0; off < n; off += kPiece) {
      pieces.push_back({static_cast<const uint8_t*>(from[i]) + off, to[i] + off, std::min(kPiece, n - off)});
    }
  }
  pool.parallel_for(static_cast<int64_t>(pieces.size()), [&](int64_t begin, int64_t end, int) {
    for (int64_t p = begin; p < end; ++p) std::memcpy(pieces[p].dst, pieces[p].src, pieces[p].n);
  });
#ifdef __linux__
  // The copy touched every page of the file mapping; unmap those pages from this process so the
  // model is not counted twice (they stay in the page cache, and reading them again refaults).
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  for (size_t i = 0; i < list.size(); ++i) {
    const auto begin = (reinterpret_cast<uintptr_t>(from[i]) + page - 1) & ~(page - 1);
    const auto end = (reinterpret_cast<uintptr_t>(from[i]) + list[i]->bytes()) & ~(page - 1);
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  }
#endif
}

ResidentWeights::~ResidentWeights() { release(memory_, bytes_); }

}  // namespace hearth
