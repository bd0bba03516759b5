#include "core/backend/cpu/resident_weights.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "core/common/error.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/cpu/weight_layout.h"

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
#elif defined(_WIN32)
  return _aligned_malloc(aligned(bytes), kAlignment);  // Windows' C runtime has no aligned_alloc
#else
  return std::aligned_alloc(kAlignment, aligned(bytes));
#endif
}

void release(void* p, size_t bytes) {
  if (!p) return;
#ifdef __linux__
  munmap(p, bytes);
#elif defined(_WIN32)
  _aligned_free(p);
#else
  std::free(p);
#endif
}

}  // namespace

ResidentWeights::ResidentWeights(const ModelWeights& source, kernels::cpu::ThreadPool& pool, bool interleave_rows)
    : weights_(source) {
  namespace kc = kernels::cpu;
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
  // Which matrices to repack: list[0] is the token embedding, repacked only when it is also the
  // (tied) output matrix, whose product reads it whole every step; its embedding lookups then
  // gather one row out of the interleaved groups (kernels::cpu::copy_row_major).
  std::vector<bool> repack(list.size(), false);
  for (size_t i = tied ? 0 : 1; i < list.size(); ++i) {
    const MatrixView& m = *list[i];
    repack[i] = interleave_rows && m.layout == kc::WeightLayout::kRowMajor && kc::repack_at_load(m.type) &&
                m.n_rows >= kc::kInterleaveRows;
  }
  // Copy in parallel, in pieces of about 4 MiB, so the pages are first touched by the threads
  // that read them most (and the copy of a multi-gigabyte model takes a moment, not seconds per
  // core). A repacked matrix is cut at whole row groups; its rows after the last group are a
  // plain copy.
  constexpr size_t kPiece = 4u << 20;
  struct Piece {
    size_t matrix;
    size_t offset, n;                 // plain copy of bytes [offset, offset + n)
    int64_t group_begin, group_end;   // or, when group_end > group_begin, a repack of these groups
  };
  std::vector<Piece> pieces;
  for (size_t i = 0; i < list.size(); ++i) {
    const MatrixView& m = *list[i];
    size_t copied_from = 0;
    if (repack[i]) {
      const int64_t groups = m.n_rows / kc::kInterleaveRows;
      const size_t group_bytes = kc::kInterleaveRows * m.row_bytes;
      const int64_t per_piece = static_cast<int64_t>(std::max<size_t>(1, kPiece / group_bytes));
      for (int64_t g = 0; g < groups; g += per_piece) pieces.push_back({i, 0, 0, g, std::min(groups, g + per_piece)});
      copied_from = static_cast<size_t>(groups) * group_bytes;
    }
    const size_t n = m.bytes();
    for (size_t off = copied_from; off < n; off += kPiece) pieces.push_back({i, off, std::min(kPiece, n - off), 0, 0});
  }
  std::vector<uint8_t> failed(pieces.size(), 0);  // one byte per piece: written by different threads
  pool.parallel_for(static_cast<int64_t>(pieces.size()), [&](int64_t begin, int64_t end, int) {
    for (int64_t p = begin; p < end; ++p) {
      const Piece& piece = pieces[p];
      const MatrixView& m = *list[piece.matrix];
      if (piece.group_end > piece.group_begin) {
        failed[p] = kc::interleave_row_groups(m.type, from[piece.matrix], to[piece.matrix], m.n_cols, piece.group_begin,
                                              piece.group_end) != kernels::KernelStatus::kOk;
      } else {
        std::memcpy(to[piece.matrix] + piece.offset, static_cast<const uint8_t*>(from[piece.matrix]) + piece.offset,
                    piece.n);
      }
    }
  });
  for (size_t p = 0; p < pieces.size(); ++p) {
    if (failed[p]) {
      release(memory_, bytes_);
      throw Error("cannot repack a weight matrix of type " + std::string(dtype_name(list[pieces[p].matrix]->type)));
    }
  }
  for (size_t i = 0; i < list.size(); ++i) {
    if (repack[i]) list[i]->layout = kc::WeightLayout::kInterleaved8;
  }
  if (tied) weights_.output = weights_.token_embd;
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
