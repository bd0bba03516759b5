#pragma once
// The interface the engine computes through. A backend owns the model's weights on its device
// and the paged KV memory: a pool of fixed-size blocks (KvGeometry) that sequences address
// through block tables. Which block belongs to which sequence, reference counts, copy-on-write
// and the prefix cache are the engine's business (core/kv); the backend only reads and writes
// the blocks it is told to.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/backend/layer_range.h"
#include "core/kv/kv_geometry.h"
#include "core/sampling/logit_candidate.h"

namespace hearth {

using TokenId = int32_t;

// One sequence's share of a batched forward pass.
struct SequenceSlice {
  std::span<const TokenId> tokens;       // new tokens, at positions n_past .. n_past + size - 1
  int64_t n_past = 0;                    // positions whose K/V are already in the blocks
  // Physical block of positions [i * block_tokens, (i + 1) * block_tokens); must cover
  // n_past + tokens.size() positions. Blocks written here (positions >= n_past) must not be
  // shared with another sequence (the engine copies on write first).
  std::span<const int32_t> block_table;
  int64_t n_logits = 1;                  // logits for the last n_logits tokens (0 .. size)
};

// Legacy single-sequence input (generate, bench, tests).
struct ForwardInput {
  std::span<const TokenId> tokens;  // new tokens, at positions n_past .. n_past + size - 1
  bool all_logits = false;          // logits for every token (scoring), else only the last
};

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu (2 threads, AVX2)" / "NVIDIA H100 80GB HBM3".
  virtual std::string device_name() const = 0;
  // Most positions one sequence may hold.
  virtual int64_t context_size() const = 0;
  virtual int64_t n_vocab() const = 0;

  // ---- Paged, batched interface (the engine) ----
  virtual KvGeometry kv_geometry() const = 0;
  virtual int64_t kv_block_count() const = 0;  // blocks in the pool, ids 0 .. count - 1

  // Runs the model over the new tokens of every sequence in one pass, writing their keys and
  // values into their blocks. logits: [sum of n_logits, n_vocab], sequences in order, each
  // sequence's rows in position order. Throws hearth::Error (bad token id, a block id outside
  // the pool, a table too short, a device fault); the pool stays usable after an error.
  virtual void forward_batch(std::span<const SequenceSlice> sequences, std::vector<float>& logits) = 0;

  // [host5] forward_batch for callers that need only the best few entries of most rows (greedy
  // and top-k sampling without penalties). top_k: one entry per logits row (the rows of
  // forward_batch, in order). Row r with top_k[r] == 0 comes whole, in `full` (those rows in order,
  // [rows with k == 0, n_vocab]); row r with top_k[r] == k > 0 comes as its k best entries
  // (logit_candidate.h order and padding) in `top`, the rows' lists one after another. The
  // values are exactly the ones forward_batch would have written. The default runs forward_batch
  // and selects on the host; a device backend selects on the device and copies only what is asked.
  virtual void forward_batch_select(std::span<const SequenceSlice> sequences, std::span<const int32_t> top_k,
                                    std::vector<float>& full, std::vector<LogitCandidate>& top);

  // [host5] Energy the device has used since some fixed moment, in joules (a monotonic counter, e.g.
  // NVML's total energy); nullopt where the backend cannot measure it (the CPU). Not free: callers
  // sample it every few tens of milliseconds at most.
  virtual std::optional<double> energy_joules() const { return std::nullopt; }

  // ---- Partial offload (layer_range.h, layer_split_backend.h) ----
  // The part of a pass that a backend built for layers [begin, end) of the model computes.
  //   hidden_in: when begin > 0, the residual stream entering layer `begin`: float32
  //              [new tokens of all sequences, n_embd], sequences in order, each sequence's tokens
  //              in position order; empty when begin == 0 (the tokens are embedded).
  //   out:       when end == n_layer, the logits exactly as forward_batch writes them; otherwise
  //              the residual stream leaving layer end - 1, [new tokens of all sequences, n_embd].
  // K/V of the backend's own layers are written into the sequences' blocks as in forward_batch.
  // The default serves a whole-model backend (hidden_in empty: forward_batch) and refuses a
  // hidden input; CpuBackend and CudaBackend implement ranges.
  virtual void forward_stage(std::span<const SequenceSlice> sequences, std::span<const float> hidden_in,
                             std::vector<float>& out);
  // The layers this backend computes, for a model of n_layer layers.
  virtual LayerRange layer_range() const { return {}; }

  // Copy-on-write support: dst := src (all layers, all positions).
  virtual void copy_kv_block(int32_t src, int32_t dst) = 0;
  // Host copies in the layout of kv_geometry.h; `bytes` is kv_geometry().block_bytes() long.
  virtual void read_kv_block(int32_t block, std::span<std::byte> bytes) const = 0;
  virtual void write_kv_block(int32_t block, std::span<const std::byte> bytes) = 0;

  // ---- Single-sequence convenience (generate, bench, tests) ----
  // One implicit sequence over blocks 0, 1, 2, ... of the pool. Never mix with an engine that
  // allocates blocks of the same backend. The defaults are built on forward_batch.
  virtual int64_t n_past() const { return single_n_past_; }
  // logits: [all_logits ? n_tokens : 1, n_vocab]. Throws hearth::Error when the context is full.
  virtual void forward(const ForwardInput& input, std::vector<float>& logits);
  // Drops cached positions >= n_past (rollback of rejected or edited tokens).
  virtual void truncate(int64_t n_past);

 private:
  std::vector<float> select_scratch_;  // forward_batch_select's default: the whole rows
  int64_t single_n_past_ = 0;
  std::vector<int32_t> single_table_;
};

}  // namespace hearth
