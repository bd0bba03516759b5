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

void Backend::truncate(int64_t n_past) { single_n_past_ = std::clamp<int64_t>(n_past, 0, single_n_past_); }

}  // namespace hearth
