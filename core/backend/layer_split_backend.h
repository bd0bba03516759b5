#pragma once
// Partial offload: one model computed by two backends in turn, the first layers on one device
// (the GPU) and the rest on another (the CPU). Each part is a backend built for a LayerRange
// (layer_range.h); a pass runs the front's forward_stage (embedding + layers [0, k)), hands the
// residual stream [new tokens, n_embd] to the back's forward_stage (layers [k, n_layer) + output
// head), and returns the back's logits. To the engine it is one whole-model backend:
//   - kv_geometry(): n_layer = both parts' layers; dtype the parts' common dtype, else F32 (a
//     CUDA front stores F16, a CPU back F32): read_kv_block / write_kv_block convert the F16 part
//     (F16 -> F32 is exact; F32 -> F16 rounds to nearest even, exact for values that came from F16);
//   - a block's bytes are the front's layers then the back's (kv_geometry.h: layer outermost);
//   - block ids are shared: block b of the split is block b of both parts.
#include <memory>
#include <vector>

#include "core/backend/backend.h"

namespace hearth {

class LayerSplitBackend final : public Backend {
 public:
  // front computes layers [0, k), back [k, n_layer) of one model of n_layer layers, 0 < k < n_layer.
  // Throws hearth::Error when the ranges do not join, or the parts' KV blocks do not match
  // (KV heads, head size, block size) or use a dtype other than F32 / F16. The pool is the
  // smaller of the two.
  LayerSplitBackend(std::unique_ptr<Backend> front, std::unique_ptr<Backend> back, int64_t n_layer);

  // "NVIDIA H100 (layers 0-19) + cpu (2 threads, AVX2) (layers 20-31)".
  std::string device_name() const override;
  int64_t context_size() const override;
  int64_t n_vocab() const override { return back_->n_vocab(); }

  KvGeometry kv_geometry() const override { return geometry_; }
  int64_t kv_block_count() const override { return n_blocks_; }
  void forward_batch(std::span<const SequenceSlice> sequences, std::vector<float>& logits) override;
  // The sum of the parts' counters that have one; nullopt when neither has.
  std::optional<double> energy_joules() const override;

  void copy_kv_block(int32_t src, int32_t dst) override;
  void read_kv_block(int32_t block, std::span<std::byte> bytes) const override;
  void write_kv_block(int32_t block, std::span<const std::byte> bytes) override;

  const Backend& front() const { return *front_; }
  const Backend& back() const { return *back_; }
  int64_t split_layer() const { return split_; }  // k: the back's first layer

 private:
  void check_block(int32_t block, const char* what) const;

  std::unique_ptr<Backend> front_, back_;
  int64_t n_layer_ = 0, split_ = 0;
  KvGeometry geometry_;
  int64_t n_blocks_ = 0;
  std::vector<float> hidden_;                  // [new tokens, n_embd] between the stages
  mutable std::vector<std::byte> part_bytes_;  // one part's block in its own dtype, for conversion
};

}  // namespace hearth
