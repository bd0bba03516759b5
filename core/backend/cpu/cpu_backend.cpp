#include "core/backend/cpu/cpu_backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "core/common/error.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/quant.h"

namespace hearth {

namespace kc = kernels::cpu;

CpuBackend::CpuBackend(const ModelConfig& config, const ModelWeights& weights, const CpuBackendOptions& options)
    : config_(config),
      n_ctx_(options.context_size > 0 ? options.context_size : std::min<int64_t>(config.n_ctx_train, 4096)),
      max_batch_(std::max<int64_t>(1, options.max_batch)),
      pool_(kc::ThreadPool::resolve_count(options.n_threads)),
      matmul_(pool_),
      resident_(options.resident_weights ? std::make_unique<ResidentWeights>(weights, pool_) : nullptr),
      weights_(resident_ ? resident_->weights() : weights) {
  const auto& c = config_;
  inv_freq_.resize(c.rope_dims / 2);
  for (int64_t i = 0; i < c.rope_dims / 2; ++i) {
    double f = std::pow(static_cast<double>(c.rope_base), -2.0 * static_cast<double>(i) / static_cast<double>(c.rope_dims));
    if (!weights_.rope_freq_factors.empty()) f /= weights_.rope_freq_factors[i];
    inv_freq_[i] = static_cast<float>(f);
  }
  const size_t cache = static_cast<size_t>(c.n_layer * n_ctx_ * c.kv_dim());
  k_cache_.resize(cache);
  v_cache_.resize(cache);
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
}

std::string CpuBackend::device_name() const {
  return fmt::format("cpu ({} threads, {})", pool_.size(), kc::simd_level_name(matmul_.level()));
}

void CpuBackend::truncate(int64_t n_past) { n_past_ = std::clamp<int64_t>(n_past, 0, n_past_); }

void CpuBackend::forward(const ForwardInput& input, std::vector<float>& logits) {
  const int64_t n = static_cast<int64_t>(input.tokens.size());
  if (n == 0) throw Error("forward called with no tokens");
  if (n_past_ + n > n_ctx_) {
    throw Error(fmt::format("context is full: {} cached + {} new tokens > context size {}", n_past_, n, n_ctx_));
  }
  for (TokenId t : input.tokens) {
    if (t < 0 || t >= config_.n_vocab) throw Error(fmt::format("token id {} is outside the vocabulary", t));
  }
  const int64_t V = config_.n_vocab;
  logits.assign(static_cast<size_t>((input.all_logits ? n : 1) * V), 0.0f);
  for (int64_t start = 0; start < n; start += max_batch_) {
    const int64_t len = std::min(max_batch_, n - start);
    const bool last_chunk = start + len == n;
    float* out = input.all_logits ? logits.data() + start * V : (last_chunk ? logits.data() : nullptr);
    forward_chunk(input.tokens.subspan(start, len), input.all_logits, out);
  }
}

void CpuBackend::matmul(const MatrixView& w, const float* x, int64_t m, float* y) {
  matmul_shared({{w.type, w.data, w.n_rows, y}}, w.n_cols, x, m);
}

void CpuBackend::matmul_shared(std::initializer_list<kernels::cpu::MatmulTarget> targets, int64_t n_cols,
                               const float* x, int64_t m) {
  const auto status = matmul_.run_shared({targets.begin(), targets.size()}, n_cols, x, m);
  if (status != kernels::KernelStatus::kOk) {
    throw Error(fmt::format("matrix product failed: {}", kernels::to_string(status)));
  }
}

void CpuBackend::prepare_rope(int64_t n_tokens) {
  const int64_t half = config_.rope_dims / 2;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const double pos = static_cast<double>(n_past_ + t);
    for (int64_t i = 0; i < half; ++i) {
      const double angle = pos * static_cast<double>(inv_freq_[i]);
      rope_cs_[(t * half + i) * 2] = static_cast<float>(std::cos(angle));
      rope_cs_[(t * half + i) * 2 + 1] = static_cast<float>(std::sin(angle));
    }
  }
}

// h_ holds the normed input [n, n_embd]; leaves the attention output projected in h_ [n, n_embd].
void CpuBackend::attention_block(const LayerWeights& l, int64_t layer, int64_t n) {
  const auto& c = config_;
  const int64_t qd = c.q_dim(), kvd = c.kv_dim(), hd = c.head_dim;
  matmul_shared({{l.wq.type, l.wq.data, l.wq.n_rows, q_.data()},
                 {l.wk.type, l.wk.data, l.wk.n_rows, k_.data()},
                 {l.wv.type, l.wv.data, l.wv.n_rows, v_.data()}},
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
  // Append this chunk's keys and values: cache rows n_past .. n_past + n - 1 of this layer.
  float* k_layer = k_cache_.data() + layer * n_ctx_ * kvd;
  float* v_layer = v_cache_.data() + layer * n_ctx_ * kvd;
  std::memcpy(k_layer + n_past_ * kvd, k_.data(), sizeof(float) * n * kvd);
  std::memcpy(v_layer + n_past_ * kvd, v_.data(), sizeof(float) * n * kvd);

  kc::AttentionShape shape;
  shape.n_tokens = n;
  shape.n_past = n_past_;
  shape.n_head = c.n_head;
  shape.n_head_kv = c.n_head_kv;
  shape.head_dim = hd;
  shape.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  kc::attention(q_.data(), k_layer, v_layer, kvd, attn_.data(), shape, pool_);
  matmul(l.wo, attn_.data(), n, h_.data());
}

void CpuBackend::forward_chunk(std::span<const TokenId> tokens, bool all_logits, float* logits) {
  const auto& c = config_;
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t E = c.n_embd;
  for (int64_t t = 0; t < n; ++t) {
    const auto& emb = weights_.token_embd;
    const auto* row = static_cast<const uint8_t*>(emb.data) + static_cast<uint64_t>(tokens[t]) * emb.row_bytes;
    kc::dequantize_row(emb.type, row, x_.data() + t * E, E);
  }
  prepare_rope(n);
  for (int64_t il = 0; il < c.n_layer; ++il) {
    const auto& l = weights_.layers[il];
    for (int64_t t = 0; t < n; ++t) kc::rms_norm(x_.data() + t * E, l.attn_norm.data(), h_.data() + t * E, E, c.rms_eps);
    attention_block(l, il, n);
    kc::add_inplace(x_.data(), h_.data(), n * E);

    for (int64_t t = 0; t < n; ++t) kc::rms_norm(x_.data() + t * E, l.ffn_norm.data(), h_.data() + t * E, E, c.rms_eps);
    matmul_shared({{l.w_gate.type, l.w_gate.data, l.w_gate.n_rows, gate_.data()},
                   {l.w_up.type, l.w_up.data, l.w_up.n_rows, up_.data()}},
                  E, h_.data(), n);
    kc::silu_mul(gate_.data(), up_.data(), n * c.n_ff);
    matmul(l.w_down, gate_.data(), n, h_.data());
    kc::add_inplace(x_.data(), h_.data(), n * E);
  }
  n_past_ += n;
  if (!logits) return;
  // Only the rows whose logits are wanted go through the output norm and the vocabulary matmul.
  const int64_t first = all_logits ? 0 : n - 1;
  const int64_t rows = n - first;
  for (int64_t t = first; t < n; ++t) {
    kc::rms_norm(x_.data() + t * E, weights_.output_norm.data(), h_.data() + (t - first) * E, E, c.rms_eps);
  }
  matmul(weights_.output, h_.data(), rows, logits);
}

}  // namespace hearth
