#include "core/backend/cpu/cpu_backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/common/checked_math.h"
#include "core/common/error.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/weight_layout.h"

namespace hearth {

namespace kc = kernels::cpu;

namespace {
// One product target from a weight view; carries the view's layout (row-major or the
// row-interleaved repack of ResidentWeights), which the kernels must know.
kc::MatmulTarget weight_target(const MatrixView& w, float* y) { return {w.type, w.data, w.n_rows, y, w.layout}; }
}  // namespace

namespace {

// Logit rows a segment [first, first + n) of a sequence of `size` tokens produces: its tokens
// among the sequence's last n_logits.
int64_t logit_rows(int64_t first, int64_t n, int64_t size, int64_t n_logits) {
  return std::max<int64_t>(0, first + n - std::max(first, size - n_logits));
}

// options.layers resolved against the model; throws hearth::Error for a range outside it.
LayerRange checked_range(const LayerRange& range, int64_t n_layer) {
  if (const std::string why = range.check(n_layer); !why.empty()) throw Error("CPU backend: " + why);
  return {range.begin, range.resolved_end(n_layer)};
}

// The views a backend of layers [begin, end) uses: the embedding only for the first stage, the
// output norm and head only for the last; the other layers stay empty (index = global layer).
ModelWeights weights_of_range(const ModelWeights& w, int64_t begin, int64_t end) {
  ModelWeights out;
  const auto n_layer = static_cast<int64_t>(w.layers.size());
  if (begin == 0) out.token_embd = w.token_embd;
  if (end == n_layer) {
    out.output = w.output;
    out.output_norm = w.output_norm;
  }
  out.rope_freq_factors = w.rope_freq_factors;
  out.layers.resize(w.layers.size());
  for (int64_t il = begin; il < end; ++il) out.layers[il] = w.layers[il];
  return out;
}

}  // namespace

CpuBackend::CpuBackend(const ModelConfig& config, const ModelWeights& weights, const CpuBackendOptions& options)
    : config_(config),
      n_ctx_(options.context_size > 0 ? options.context_size : std::min<int64_t>(config.n_ctx_train, 4096)),
      max_batch_(std::max<int64_t>(1, options.max_batch)),
      begin_(checked_range(options.layers, config.n_layer).begin),
      end_(checked_range(options.layers, config.n_layer).end),
      pool_(kc::ThreadPool::resolve_count(options.n_threads)),
      matmul_(pool_),
      range_weights_(whole_model() ? ModelWeights{} : weights_of_range(weights, begin_, end_)),
      resident_(options.resident_weights
                    ? std::make_unique<ResidentWeights>(whole_model() ? weights : range_weights_, pool_,
                                                        /*interleave_rows=*/true)
                    : nullptr),
      weights_(resident_ ? resident_->weights() : whole_model() ? weights : range_weights_) {
  const auto& c = config_;
  inv_freq_.resize(c.rope_dims / 2);
  for (int64_t i = 0; i < c.rope_dims / 2; ++i) {
    double f = std::pow(static_cast<double>(c.rope_base), -2.0 * static_cast<double>(i) / static_cast<double>(c.rope_dims));
    if (!weights_.rope_freq_factors.empty()) f /= weights_.rope_freq_factors[i];
    inv_freq_[i] = static_cast<float>(f);
  }

  if (options.kv_block_tokens <= 0 || options.kv_block_tokens > (int64_t{1} << 20)) {
    throw Error(fmt::format("KV block size {} tokens is out of range", options.kv_block_tokens));
  }
  geometry_.n_layer = end_ - begin_;
  geometry_.n_kv_head = c.n_head_kv;
  geometry_.head_dim = c.head_dim;
  geometry_.block_tokens = options.kv_block_tokens;
  geometry_.dtype = DType::F32;
  n_blocks_ = options.kv_blocks > 0 ? options.kv_blocks : geometry_.blocks_for(n_ctx_);
  if (n_blocks_ > std::numeric_limits<int32_t>::max()) {
    throw Error(fmt::format("KV pool of {} blocks: block ids must fit in 32 bits", n_blocks_));
  }
  int64_t per_block = 0, total = 0;
  if (!checked_mul<int64_t>(2 * geometry_.n_layer * c.n_head_kv * c.head_dim, geometry_.block_tokens, per_block) ||
      !checked_mul<int64_t>(per_block, n_blocks_, total) || total > (int64_t{1} << 60) / int64_t(sizeof(float))) {
    throw Error(fmt::format("KV pool of {} blocks of {} tokens is too large", n_blocks_, geometry_.block_tokens));
  }
  block_floats_ = per_block;
  // calloc: large pools come straight from zero pages of the OS, committed as they are written.
  kv_pool_.reset(static_cast<float*>(std::calloc(static_cast<size_t>(std::max<int64_t>(total, 1)), sizeof(float))));
  if (!kv_pool_) {
    throw Error(fmt::format("cannot allocate the KV pool: {} blocks, {:.1f} MiB", n_blocks_,
                            double(total) * sizeof(float) / (1024.0 * 1024.0)));
  }
  block_uses_.assign(static_cast<size_t>(n_blocks_), 0);

  const size_t b = static_cast<size_t>(max_batch_);
  x_.resize(b * c.n_embd);
  h_.resize(b * std::max(c.n_embd, c.q_dim()));
  q_.resize(b * c.q_dim());
  k_.resize(b * c.kv_dim());
  v_.resize(b * c.kv_dim());
  attn_.resize(b * c.q_dim());
  gate_.resize(b * c.n_ff);
  up_.resize(b * c.n_ff);
  rope_cs_.resize(b * c.rope_dims);
  positions_.resize(b);
}

std::string CpuBackend::device_name() const {
  return fmt::format("cpu ({} threads, {})", pool_.size(), kc::simd_level_name(matmul_.level()));
}

// ---- KV blocks ----

void CpuBackend::check_block_id(int32_t block, const char* what) const {
  if (block < 0 || block >= n_blocks_) {
    throw Error(fmt::format("{}: KV block {} is outside the pool (0 .. {})", what, block, n_blocks_ - 1));
  }
}

void CpuBackend::copy_kv_block(int32_t src, int32_t dst) {
  check_block_id(src, "copy_kv_block source");
  check_block_id(dst, "copy_kv_block destination");
  if (src != dst) std::memcpy(block_data(dst), block_data(src), sizeof(float) * block_floats_);
}

void CpuBackend::read_kv_block(int32_t block, std::span<std::byte> bytes) const {
  check_block_id(block, "read_kv_block");
  if (static_cast<int64_t>(bytes.size()) != geometry_.block_bytes()) {
    throw Error(fmt::format("read_kv_block: buffer of {} bytes, a block is {}", bytes.size(), geometry_.block_bytes()));
  }
  std::memcpy(bytes.data(), block_data(block), bytes.size());
}

void CpuBackend::write_kv_block(int32_t block, std::span<const std::byte> bytes) {
  check_block_id(block, "write_kv_block");
  if (static_cast<int64_t>(bytes.size()) != geometry_.block_bytes()) {
    throw Error(fmt::format("write_kv_block: {} bytes given, a block is {}", bytes.size(), geometry_.block_bytes()));
  }
  std::memcpy(block_data(block), bytes.data(), bytes.size());
}

// ---- Batched forward ----

// Everything is checked before anything is written, so a rejected batch leaves the pool as it was.
void CpuBackend::validate(std::span<const SequenceSlice> sequences) {
  const int64_t bt = geometry_.block_tokens;
  for (size_t i = 0; i < sequences.size(); ++i) {
    const auto& s = sequences[i];
    const int64_t n = static_cast<int64_t>(s.tokens.size());
    if (s.n_past < 0) throw Error(fmt::format("sequence {}: n_past {} is negative", i, s.n_past));
    if (s.n_logits < 0 || s.n_logits > n) {
      throw Error(fmt::format("sequence {}: {} logits asked for {} new tokens", i, s.n_logits, n));
    }
    if (s.n_past > n_ctx_ - n) {
      throw Error(fmt::format("context is full: {} cached + {} new tokens > context size {}", s.n_past, n, n_ctx_));
    }
    for (TokenId t : s.tokens) {
      if (t < 0 || t >= config_.n_vocab) throw Error(fmt::format("token id {} is outside the vocabulary", t));
    }
    const int64_t needed = geometry_.blocks_for(s.n_past + n);
    if (static_cast<int64_t>(s.block_table.size()) < needed) {
      throw Error(fmt::format("sequence {}: block table has {} blocks, {} positions need {}", i, s.block_table.size(),
                              s.n_past + n, needed));
    }
    for (int64_t b = 0; b < needed; ++b) check_block_id(s.block_table[b], "block table");
  }
  // A block written in this pass (positions >= n_past) must be used exactly once in the whole
  // batch: not by another sequence, nor twice in one table. Count uses, check, reset the counts.
  for (const auto& s : sequences) {
    const int64_t needed = geometry_.blocks_for(s.n_past + static_cast<int64_t>(s.tokens.size()));
    for (int64_t b = 0; b < needed; ++b) ++block_uses_[s.block_table[b]];
  }
  std::string conflict;
  for (size_t i = 0; i < sequences.size() && conflict.empty(); ++i) {
    const auto& s = sequences[i];
    const int64_t n = static_cast<int64_t>(s.tokens.size());
    if (n == 0) continue;
    for (int64_t b = s.n_past / bt; b <= (s.n_past + n - 1) / bt; ++b) {
      if (block_uses_[s.block_table[b]] != 1) {
        conflict = fmt::format("sequence {} writes KV block {}, which is also used elsewhere in the batch", i,
                               s.block_table[b]);
        break;
      }
    }
  }
  for (const auto& s : sequences) {
    const int64_t needed = geometry_.blocks_for(s.n_past + static_cast<int64_t>(s.tokens.size()));
    for (int64_t b = 0; b < needed; ++b) block_uses_[s.block_table[b]] = 0;
  }
  if (!conflict.empty()) throw Error(conflict);
}

void CpuBackend::forward_batch(std::span<const SequenceSlice> sequences, std::vector<float>& logits) {
  if (!whole_model()) {
    throw Error(fmt::format("forward_batch on a CPU backend of layers {} .. {} of {}: a partial backend runs "
                            "through forward_stage (LayerSplitBackend)",
                            begin_, end_ - 1, config_.n_layer));
  }
  validate(sequences);
  run_stage(sequences, {}, logits);
}

void CpuBackend::forward_stage(std::span<const SequenceSlice> sequences, std::span<const float> hidden_in,
                               std::vector<float>& out) {
  int64_t total_tokens = 0;
  for (const auto& s : sequences) total_tokens += static_cast<int64_t>(s.tokens.size());
  const int64_t expected = begin_ == 0 ? 0 : total_tokens * config_.n_embd;
  if (static_cast<int64_t>(hidden_in.size()) != expected) {
    throw Error(fmt::format("forward_stage of layers {} .. {}: hidden input of {} floats, expected {} ({} tokens x {})",
                            begin_, end_ - 1, hidden_in.size(), expected, begin_ == 0 ? 0 : total_tokens,
                            config_.n_embd));
  }
  validate(sequences);
  run_stage(sequences, hidden_in, out);
}

void CpuBackend::run_stage(std::span<const SequenceSlice> sequences, std::span<const float> hidden_in,
                           std::vector<float>& result) {
  const int64_t V = config_.n_vocab, E = config_.n_embd;
  if (computes_logits()) {
    int64_t total_logits = 0;
    for (const auto& s : sequences) total_logits += s.n_logits;
    result.assign(static_cast<size_t>(total_logits * V), 0.0f);
  } else {
    int64_t total_tokens = 0;
    for (const auto& s : sequences) total_tokens += static_cast<int64_t>(s.tokens.size());
    result.assign(static_cast<size_t>(total_tokens * E), 0.0f);
  }

  // The tokens of all sequences, in order, cut into chunks of at most max_batch rows; a sequence
  // may span chunks (its later tokens then see the K/V its earlier chunk wrote). Chunk row r is
  // global row (tokens of all sequences in order) chunk_start + r, for hidden_in and for the
  // hidden output alike.
  std::vector<Segment> segments;
  int64_t rows = 0, chunk_start = 0;
  float* out = result.data();
  auto flush = [&] {
    if (rows == 0) return;
    const float* in = hidden_in.empty() ? nullptr : hidden_in.data() + chunk_start * E;
    forward_chunk(sequences, segments, rows, in, out);
    if (computes_logits()) {
      for (const auto& seg : segments) {
        const auto& s = sequences[seg.sequence];
        out += logit_rows(seg.first_token, seg.n_tokens, static_cast<int64_t>(s.tokens.size()), s.n_logits) * V;
      }
    } else {
      out += rows * E;
    }
    chunk_start += rows;
    segments.clear();
    rows = 0;
  };
  for (size_t i = 0; i < sequences.size(); ++i) {
    const int64_t n = static_cast<int64_t>(sequences[i].tokens.size());
    for (int64_t first = 0; first < n;) {
      const int64_t take = std::min(n - first, max_batch_ - rows);
      segments.push_back({i, first, take, rows});
      rows += take;
      first += take;
      if (rows == max_batch_) flush();
    }
  }
  flush();
}

void CpuBackend::matmul(const MatrixView& w, const float* x, int64_t m, float* y) {
  matmul_shared({weight_target(w, y)}, w.n_cols, x, m);
}

void CpuBackend::matmul_shared(std::initializer_list<kernels::cpu::MatmulTarget> targets, int64_t n_cols,
                               const float* x, int64_t m) {
  const auto status = matmul_.run_shared({targets.begin(), targets.size()}, n_cols, x, m);
  if (status != kernels::KernelStatus::kOk) {
    throw Error(fmt::format("matrix product failed: {}", kernels::to_string(status)));
  }
}

// Keys and values of the chunk's rows (k_, v_: [rows, n_kv_head * head_dim]) into their blocks:
// the row at position p goes to block table[p / block_tokens], slot p % block_tokens, of each KV
// head's [block_tokens, head_dim] slab of this layer.
void CpuBackend::store_kv(int64_t layer, std::span<const SequenceSlice> sequences, std::span<const Segment> segments) {
  const int64_t bt = geometry_.block_tokens, hd = config_.head_dim, nkv = config_.n_head_kv;
  const int64_t kvd = config_.kv_dim();
  const int64_t k_offset = layer * 2 * nkv * bt * hd, v_offset = k_offset + nkv * bt * hd;
  for (const auto& seg : segments) {
    const auto& table = sequences[seg.sequence].block_table;
    for (int64_t r = seg.first_row; r < seg.first_row + seg.n_tokens; ++r) {
      const int64_t pos = positions_[r];
      float* block = block_data(table[pos / bt]);
      const int64_t slot = pos % bt;
      for (int64_t h = 0; h < nkv; ++h) {
        std::memcpy(block + k_offset + (h * bt + slot) * hd, k_.data() + r * kvd + h * hd, sizeof(float) * hd);
        std::memcpy(block + v_offset + (h * bt + slot) * hd, v_.data() + r * kvd + h * hd, sizeof(float) * hd);
      }
    }
  }
}

// h_ holds the normed input [n, n_embd]; leaves the attention output projected in h_ [n, n_embd].
void CpuBackend::attention_block(const LayerWeights& l, int64_t layer, std::span<const SequenceSlice> sequences,
                                 std::span<const Segment> segments, int64_t n) {
  const auto& c = config_;
  const int64_t qd = c.q_dim(), kvd = c.kv_dim(), hd = c.head_dim;
  matmul_shared({weight_target(l.wq, q_.data()),
                 weight_target(l.wk, k_.data()),
                 weight_target(l.wv, v_.data())},
                c.n_embd, h_.data(), n);
  for (int64_t t = 0; t < n; ++t) {
    float* q = q_.data() + t * qd;
    float* k = k_.data() + t * kvd;
    float* v = v_.data() + t * kvd;
    if (c.qkv_bias) {
      kc::add_inplace(q, l.bq.data(), qd);
      kc::add_inplace(k, l.bk.data(), kvd);
      kc::add_inplace(v, l.bv.data(), kvd);
    }
    if (c.qk_norm) {
      for (int64_t h = 0; h < c.n_head; ++h) kc::rms_norm(q + h * hd, l.q_norm.data(), q + h * hd, hd, c.rms_eps);
      for (int64_t h = 0; h < c.n_head_kv; ++h) kc::rms_norm(k + h * hd, l.k_norm.data(), k + h * hd, hd, c.rms_eps);
    }
    const float* cs = rope_cs_.data() + t * c.rope_dims;
    const bool halves = c.rope_style == RopeStyle::kHalves;
    kc::rope(q, c.n_head, hd, c.rope_dims, cs, halves);
    kc::rope(k, c.n_head_kv, hd, c.rope_dims, cs, halves);
  }
  store_kv(layer, sequences, segments);

  attn_sequences_.clear();
  for (const auto& seg : segments) {
    const auto& s = sequences[seg.sequence];
    kc::PagedAttentionSequence a;
    a.q = q_.data() + seg.first_row * qd;
    a.out = attn_.data() + seg.first_row * qd;
    a.n_tokens = seg.n_tokens;
    a.n_past = s.n_past + seg.first_token;
    a.block_table = s.block_table.data();
    attn_sequences_.push_back(a);
  }
  const int64_t bt = geometry_.block_tokens;
  kc::PagedKvLayer kv;
  kv.pool = kv_pool_.get();
  kv.block_stride = block_floats_;
  kv.k_offset = layer * 2 * c.n_head_kv * bt * hd;
  kv.v_offset = kv.k_offset + c.n_head_kv * bt * hd;
  kv.block_tokens = bt;
  kc::PagedAttentionShape shape;
  shape.n_head = c.n_head;
  shape.n_head_kv = c.n_head_kv;
  shape.head_dim = hd;
  shape.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const auto status = kc::paged_attention(kv, shape, attn_sequences_, pool_, matmul_.level());
  if (status != kernels::KernelStatus::kOk) throw Error(fmt::format("attention failed: {}", kernels::to_string(status)));
  matmul(l.wo, attn_.data(), n, h_.data());
}

// One pass of n rows (the segments' tokens) through layers [begin_, end_): the rows come from
// the token embedding (begin_ == 0) or hidden_in; logits of the wanted rows, in row order, to
// `out` (end_ == n_layer), else the n rows of the residual stream.
void CpuBackend::forward_chunk(std::span<const SequenceSlice> sequences, std::span<const Segment> segments, int64_t n,
                               const float* hidden_in, float* out) {
  const auto& c = config_;
  const int64_t E = c.n_embd;
  const int64_t half = c.rope_dims / 2;
  for (const auto& seg : segments) {
    const auto& s = sequences[seg.sequence];
    for (int64_t j = 0; j < seg.n_tokens; ++j) {
      const int64_t r = seg.first_row + j;
      positions_[r] = s.n_past + seg.first_token + j;
      // RoPE angles of this row's position, [rope_dims / 2][cos, sin].
      const double pos = static_cast<double>(positions_[r]);
      for (int64_t i = 0; i < half; ++i) {
        const double angle = pos * static_cast<double>(inv_freq_[i]);
        rope_cs_[(r * half + i) * 2] = static_cast<float>(std::cos(angle));
        rope_cs_[(r * half + i) * 2 + 1] = static_cast<float>(std::sin(angle));
      }
      if (hidden_in) {  // a later stage: the residual stream entering layer begin_
        std::memcpy(x_.data() + r * E, hidden_in + r * E, sizeof(float) * E);
        continue;
      }
      const auto& emb = weights_.token_embd;
      const auto token = static_cast<uint64_t>(s.tokens[seg.first_token + j]);
      const uint8_t* row = static_cast<const uint8_t*>(emb.data) + token * emb.row_bytes;
      if (emb.layout != kc::WeightLayout::kRowMajor) {  // a tied output matrix, repacked for the product
        embedding_row_.resize(emb.row_bytes);
        if (kc::copy_row_major(emb.type, emb.layout, emb.data, emb.n_rows, emb.n_cols, static_cast<int64_t>(token),
                               embedding_row_.data()) != kernels::KernelStatus::kOk) {
          throw Error("cannot read a row of the token embedding");
        }
        row = embedding_row_.data();
      }
      kc::dequantize_row(emb.type, row, x_.data() + r * E, E);
    }
  }
  for (int64_t il = begin_; il < end_; ++il) {
    const auto& l = weights_.layers[il];
    for (int64_t t = 0; t < n; ++t) kc::rms_norm(x_.data() + t * E, l.attn_norm.data(), h_.data() + t * E, E, c.rms_eps);
    attention_block(l, il - begin_, sequences, segments, n);  // the KV pool holds the local layers
    kc::add_inplace(x_.data(), h_.data(), n * E);

    for (int64_t t = 0; t < n; ++t) kc::rms_norm(x_.data() + t * E, l.ffn_norm.data(), h_.data() + t * E, E, c.rms_eps);
    matmul_shared({weight_target(l.w_gate, gate_.data()),
                   weight_target(l.w_up, up_.data())},
                  E, h_.data(), n);
    kc::silu_mul(gate_.data(), up_.data(), n * c.n_ff);
    matmul(l.w_down, gate_.data(), n, h_.data());
    kc::add_inplace(x_.data(), h_.data(), n * E);
  }
  if (!computes_logits()) {  // the residual stream leaving layer end_ - 1, for the next stage
    std::memcpy(out, x_.data(), sizeof(float) * static_cast<size_t>(n * E));
    return;
  }
  // Only the rows whose logits are wanted go through the output norm and the vocabulary matmul,
  // gathered into h_ [wanted, n_embd] in row order.
  int64_t wanted = 0;
  for (const auto& seg : segments) {
    const auto& s = sequences[seg.sequence];
    const int64_t size = static_cast<int64_t>(s.tokens.size());
    const int64_t count = logit_rows(seg.first_token, seg.n_tokens, size, s.n_logits);
    for (int64_t r = seg.first_row + seg.n_tokens - count; r < seg.first_row + seg.n_tokens; ++r) {
      kc::rms_norm(x_.data() + r * E, weights_.output_norm.data(), h_.data() + wanted * E, E, c.rms_eps);
      ++wanted;
    }
  }
  if (wanted > 0) matmul(weights_.output, h_.data(), wanted, out);
}

}  // namespace hearth
