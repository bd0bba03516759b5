#pragma once
// Weight matrices copied out of the file mapping into anonymous memory backed by transparent huge
// pages. Decode streams every weight once per token; through the page cache's 4 KiB pages that
// stream is limited by TLB misses (about 30 GB/s on the development machine against 50 GB/s with
// 2 MiB pages), so the copy is what lets decode approach the memory roofline. The mapping stays
// valid; only the views change.
#include <cstddef>
#include <memory>

#include "core/model/model_weights.h"

namespace hearth::kernels::cpu {
class ThreadPool;
}

namespace hearth {

class ResidentWeights {
 public:
  // Copies every matrix of `source` (a tied output keeps sharing the embedding copy).
  // Throws hearth::Error when the memory cannot be allocated.
  ResidentWeights(const ModelWeights& source, kernels::cpu::ThreadPool& pool);
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
