#include "core/model/model_weights.h"

#include <fmt/format.h>

#include "core/common/error.h"
#include "core/gguf/gguf_file.h"
#include "kernels/cpu/quant.h"

namespace hearth {

namespace {

MatrixView matrix(const gguf::GgufFile& f, const std::string& name) {
  const auto* t = f.find_tensor(name);
  if (!t) throw FormatError(fmt::format("model is missing tensor '{}'", name));
  MatrixView m;
  m.type = t->type;
  m.data = f.tensor_data(*t).data();
  m.n_cols = static_cast<int64_t>(t->dims[0]);
  m.n_rows = static_cast<int64_t>(t->n_rows());
  m.row_bytes = *row_bytes(t->type, t->dims[0]);
  return m;
}

std::vector<float> vector_f32(const gguf::GgufFile& f, const std::string& name) {
  const auto* t = f.find_tensor(name);
  if (!t) throw FormatError(fmt::format("model is missing tensor '{}'", name));
  std::vector<float> out(t->n_elements);
  const auto status = kernels::cpu::dequantize_row(t->type, f.tensor_data(*t).data(), out.data(),
                                                   static_cast<int64_t>(t->n_elements));
  if (status != kernels::KernelStatus::kOk) {
    throw FormatError(fmt::format("tensor '{}': {}", name, kernels::to_string(status)));
  }
  return out;
}

}  // namespace

ModelWeights ModelWeights::from_gguf(const gguf::GgufFile& f, const ModelConfig& c) {
  ModelWeights w;
  w.token_embd = matrix(f, "token_embd.weight");
  w.output = c.tied_output ? w.token_embd : matrix(f, "output.weight");
  w.output_norm = vector_f32(f, "output_norm.weight");
  if (c.rope_freq_factors) {
    w.rope_freq_factors = vector_f32(f, "rope_freqs.weight");
    for (float factor : w.rope_freq_factors) {
      if (!(factor > 0.0f)) throw FormatError("rope_freqs.weight has a non-positive factor");
    }
  }
  w.layers.resize(c.n_layer);
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const std::string b = fmt::format("blk.{}.", i);
    auto& l = w.layers[i];
    l.attn_norm = vector_f32(f, b + "attn_norm.weight");
    l.wq = matrix(f, b + "attn_q.weight");
    l.wk = matrix(f, b + "attn_k.weight");
    l.wv = matrix(f, b + "attn_v.weight");
    l.wo = matrix(f, b + "attn_output.weight");
    if (c.qkv_bias) {
      l.bq = vector_f32(f, b + "attn_q.bias");
      l.bk = vector_f32(f, b + "attn_k.bias");
      l.bv = vector_f32(f, b + "attn_v.bias");
    }
    if (c.qk_norm) {
      l.q_norm = vector_f32(f, b + "attn_q_norm.weight");
      l.k_norm = vector_f32(f, b + "attn_k_norm.weight");
    }
    l.ffn_norm = vector_f32(f, b + "ffn_norm.weight");
    l.w_gate = matrix(f, b + "ffn_gate.weight");
    l.w_up = matrix(f, b + "ffn_up.weight");
    l.w_down = matrix(f, b + "ffn_down.weight");
  }
  return w;
}

uint64_t ModelWeights::matrix_bytes() const {
  uint64_t total = output.bytes() + token_embd.row_bytes;  // one embedding row per token
  for (const auto& l : layers) {
    total += l.wq.bytes() + l.wk.bytes() + l.wv.bytes() + l.wo.bytes();
    total += l.w_gate.bytes() + l.w_up.bytes() + l.w_down.bytes();
  }
  return total;
}

}  // namespace hearth
