#pragma once
// Weight matrices copied out of the file mapping into anonymous memory backed by transparent huge
// pages. Decode streams every weight once per token; through the page cache's 4 KiB pages that
// stream is limited by TLB misses (about 30 GB/s on the development machine against 50 GB/s with
// 2 MiB pages), so the copy is what lets decode approach the memory roofline. The mapping stays
// valid; only the views change.
//
// With interleave_rows, matrices whose type has a row-interleaved layout
// (kernels::cpu::supports_interleaved: Q4_0) are repacked during the copy into
// WeightLayout::kInterleaved8 (same size; view.layout says so), which the matmul reads with
// group kernels that serve 8 rows per activation load. The caller must then pass each view's
// layout to the matmul (MatmulTarget::layout). The token embedding is never repacked (its rows
// are looked up one by one), nor a tied output that shares it.
#include <cstddef>
#include <memory>

#include "core/model/model_weights.h"

namespace hearth::kernels::cpu {
class ThreadPool;
}

namespace hearth {

class ResidentWeights {
 public:
  // Copies every matrix of `source` (a tied output keeps sharing the embedding copy),
  // repacking the ones it can when interleave_rows is set (see above).
  // Throws hearth::Error when the memory cannot be allocated.
  ResidentWeights(const ModelWeights& source, kernels::cpu::ThreadPool& pool, bool interleave_rows = false);
  ~ResidentWeights();
  ResidentWeights(const ResidentWeights&) = delete;
  ResidentWeights& operator=(const ResidentWeights&) = delete;

  const ModelWeights& weights() const { return weights_; }
  size_t bytes() const { return bytes_; }

 private:
  void* memory_ = nullptr;
  size_t bytes_ = 0;
  ModelWeights weights_;
};

}  // namespace hearth
