#include "core/backend/backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "core/common/error.h"

namespace hearth {

void Backend::forward(const ForwardInput& input, std::vector<float>& logits) {
  const int64_t n = static_cast<int64_t>(input.tokens.size());
  if (n == 0) throw Error("forward called with no tokens");
  if (single_n_past_ + n > context_size()) {
    throw Error(fmt::format("context is full: {} cached + {} new tokens > context size {}", single_n_past_, n,
                            context_size()));
  }
  const KvGeometry g = kv_geometry();
  const int64_t needed = g.blocks_for(single_n_past_ + n);
  if (needed > kv_block_count()) {
    throw Error(fmt::format("KV pool too small: {} blocks needed, {} in the pool", needed, kv_block_count()));
  }
  if (static_cast<int64_t>(single_table_.size()) < needed) {
    single_table_.resize(static_cast<size_t>(needed));
    std::iota(single_table_.begin(), single_table_.end(), 0);
  }
  SequenceSlice slice;
  slice.tokens = input.tokens;
  slice.n_past = single_n_past_;
  slice.block_table = single_table_;
  slice.n_logits = input.all_logits ? n : 1;
  forward_batch({&slice, 1}, logits);
  single_n_past_ += n;
}

// [host5] The host fallback: every row computed and copied whole, then reduced here.
void Backend::forward_batch_select(std::span<const SequenceSlice> sequences, std::span<const int32_t> top_k,
                                   std::vector<float>& full, std::vector<LogitCandidate>& top) {
  int64_t rows = 0;
  for (const auto& q : sequences) rows += q.n_logits;
  if (static_cast<int64_t>(top_k.size()) != rows) {
    throw Error(fmt::format("forward_batch_select: {} top-k entries for {} logits rows", top_k.size(), rows));
  }
  forward_batch(sequences, select_scratch_);
  const auto V = static_cast<size_t>(n_vocab());
  size_t n_full = 0, n_top = 0;
  for (int32_t k : top_k) {
    if (k < 0) throw Error(fmt::format("forward_batch_select: top-k {} is negative", k));
    if (k == 0) {
      ++n_full;
    } else {
      n_top += static_cast<size_t>(k);
    }
  }
  full.resize(n_full * V);
  top.resize(n_top);
  size_t f = 0, t = 0;
  for (size_t r = 0; r < top_k.size(); ++r) {
    const auto row = std::span<const float>(select_scratch_).subspan(r * V, V);
    if (top_k[r] == 0) {
      std::copy(row.begin(), row.end(), full.begin() + static_cast<std::ptrdiff_t>(f * V));
      ++f;
    } else {
      select_top_logits(row, std::span<LogitCandidate>(top).subspan(t, static_cast<size_t>(top_k[r])));
      t += static_cast<size_t>(top_k[r]);
    }
  }
}

void Backend::forward_stage(std::span<const SequenceSlice> sequences, std::span<const float> hidden_in,
                            std::vector<float>& out) {
  if (!hidden_in.empty()) throw Error("this backend computes whole models only, not a range of layers");
  forward_batch(sequences, out);
}

void Backend::truncate(int64_t n_past) { single_n_past_ = std::clamp<int64_t>(n_past, 0, single_n_past_); }

}  // namespace hearth
