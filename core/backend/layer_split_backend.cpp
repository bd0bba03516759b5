#include "core/backend/layer_split_backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "core/common/error.h"
#include "kernels/cpu/quant.h"

namespace hearth {

namespace {

// Copies one part's block (elements of `from`) into the split's layout (elements of `to`); the
// element order is the same, only the type may differ.
void convert(std::span<const std::byte> in, DType from, std::span<std::byte> out, DType to) {
  if (from == to) {
    std::memcpy(out.data(), in.data(), in.size());
    return;
  }
  if (from == DType::F16 && to == DType::F32) {
    const size_t n = in.size() / 2;
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, in.data() + 2 * i, 2);
      const float f = kernels::cpu::fp16_to_fp32(h);
      std::memcpy(out.data() + 4 * i, &f, 4);
    }
    return;
  }
  if (from == DType::F32 && to == DType::F16) {
    const size_t n = in.size() / 4;
    for (size_t i = 0; i < n; ++i) {
      float f;
      std::memcpy(&f, in.data() + 4 * i, 4);
      const uint16_t h = kernels::cpu::fp32_to_fp16(f);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
    return;
  }
  throw Error(fmt::format("KV block conversion from {} to {} is not supported", dtype_name(from), dtype_name(to)));
}

bool supported_kv_dtype(DType t) { return t == DType::F32 || t == DType::F16; }

}  // namespace

LayerSplitBackend::LayerSplitBackend(std::unique_ptr<Backend> front, std::unique_ptr<Backend> back, int64_t n_layer)
    : front_(std::move(front)), back_(std::move(back)), n_layer_(n_layer) {
  if (!front_ || !back_) throw Error("layer split: both parts must be given");
  const LayerRange f = front_->layer_range(), b = back_->layer_range();
  const int64_t f_end = f.resolved_end(n_layer), b_end = b.resolved_end(n_layer);
  if (!f.check(n_layer).empty() || !b.check(n_layer).empty() || f.begin != 0 || f_end != b.begin ||
      b_end != n_layer) {
    throw Error(fmt::format("layer split: the parts compute layers {} .. {} and {} .. {}; they must be [0, k) and "
                            "[k, {}) of one model of {} layers",
                            f.begin, f_end, b.begin, b_end, n_layer, n_layer));
  }
  split_ = f_end;
  const KvGeometry gf = front_->kv_geometry(), gb = back_->kv_geometry();
  if (gf.n_layer != split_ || gb.n_layer != n_layer - split_) {
    throw Error(fmt::format("layer split: the parts' KV blocks hold {} and {} layers, their ranges {} and {}",
                            gf.n_layer, gb.n_layer, split_, n_layer - split_));
  }
  if (gf.n_kv_head != gb.n_kv_head || gf.head_dim != gb.head_dim || gf.block_tokens != gb.block_tokens) {
    throw Error(fmt::format("layer split: the parts' KV blocks differ ({} KV heads x {} x {} tokens against "
                            "{} x {} x {})",
                            gf.n_kv_head, gf.head_dim, gf.block_tokens, gb.n_kv_head, gb.head_dim, gb.block_tokens));
  }
  if (!supported_kv_dtype(gf.dtype) || !supported_kv_dtype(gb.dtype)) {
    throw Error(fmt::format("layer split: KV blocks of {} and {}; only F32 and F16 are supported",
                            dtype_name(gf.dtype), dtype_name(gb.dtype)));
  }
  if (front_->n_vocab() != back_->n_vocab()) {
    throw Error(fmt::format("layer split: the parts have {} and {} vocabulary entries", front_->n_vocab(),
                            back_->n_vocab()));
  }
  geometry_ = gf;
  geometry_.n_layer = n_layer;
  geometry_.dtype = gf.dtype == gb.dtype ? gf.dtype : DType::F32;
  n_blocks_ = std::min(front_->kv_block_count(), back_->kv_block_count());
}

std::string LayerSplitBackend::device_name() const {
  return fmt::format("{} (layers 0-{}) + {} (layers {}-{})", front_->device_name(), split_ - 1, back_->device_name(),
                     split_, n_layer_ - 1);
}

int64_t LayerSplitBackend::context_size() const { return std::min(front_->context_size(), back_->context_size()); }

void LayerSplitBackend::forward_batch(std::span<const SequenceSlice> sequences, std::vector<float>& logits) {
  front_->forward_stage(sequences, {}, hidden_);
  back_->forward_stage(sequences, hidden_, logits);
}

std::optional<double> LayerSplitBackend::energy_joules() const {
  const auto f = front_->energy_joules(), b = back_->energy_joules();
  if (f && b) return *f + *b;
  return f ? f : b;
}

void LayerSplitBackend::check_block(int32_t block, const char* what) const {
  if (block < 0 || block >= n_blocks_) {
    throw Error(fmt::format("{}: KV block {} is outside the pool (0 .. {})", what, block, n_blocks_ - 1));
  }
}

void LayerSplitBackend::copy_kv_block(int32_t src, int32_t dst) {
  check_block(src, "copy_kv_block source");
  check_block(dst, "copy_kv_block destination");
  front_->copy_kv_block(src, dst);
  back_->copy_kv_block(src, dst);
}

void LayerSplitBackend::read_kv_block(int32_t block, std::span<std::byte> bytes) const {
  check_block(block, "read_kv_block");
  if (static_cast<int64_t>(bytes.size()) != geometry_.block_bytes()) {
    throw Error(fmt::format("read_kv_block: buffer of {} bytes, a block is {}", bytes.size(), geometry_.block_bytes()));
  }
  size_t offset = 0;
  for (const Backend* part : {front_.get(), back_.get()}) {
    const KvGeometry g = part->kv_geometry();
    KvGeometry as_split = g;
    as_split.dtype = geometry_.dtype;
    const auto out = bytes.subspan(offset, static_cast<size_t>(as_split.block_bytes()));
    if (g.dtype == geometry_.dtype) {
      part->read_kv_block(block, out);
    } else {
      part_bytes_.resize(static_cast<size_t>(g.block_bytes()));
      part->read_kv_block(block, part_bytes_);
      convert(part_bytes_, g.dtype, out, geometry_.dtype);
    }
    offset += out.size();
  }
}

void LayerSplitBackend::write_kv_block(int32_t block, std::span<const std::byte> bytes) {
  check_block(block, "write_kv_block");
  if (static_cast<int64_t>(bytes.size()) != geometry_.block_bytes()) {
    throw Error(fmt::format("write_kv_block: {} bytes given, a block is {}", bytes.size(), geometry_.block_bytes()));
  }
  size_t offset = 0;
  for (Backend* part : {front_.get(), back_.get()}) {
    const KvGeometry g = part->kv_geometry();
    KvGeometry as_split = g;
    as_split.dtype = geometry_.dtype;
    const auto in = bytes.subspan(offset, static_cast<size_t>(as_split.block_bytes()));
    if (g.dtype == geometry_.dtype) {
      part->write_kv_block(block, in);
    } else {
      part_bytes_.resize(static_cast<size_t>(g.block_bytes()));
      convert(in, geometry_.dtype, part_bytes_, g.dtype);
      part->write_kv_block(block, part_bytes_);
    }
    offset += in.size();
  }
}

}  // namespace hearth
