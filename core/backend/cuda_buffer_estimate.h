#pragma once
// Device memory the CUDA backend allocates besides the weights and the KV pool: activation
// buffers for passes of max_batch tokens, kCudaLogitRows rows of logits, the RoPE table, the
// gemm workspace (max_batch rows of the widest input in FP16 + a dequantized weight tile) and a
// margin for the CUDA context and cuBLAS. One formula for the backend's fit check
// (core/backend/cuda/cuda_backend.cpp: estimate_cuda_memory) and for the app's estimate before a
// model is loaded (app/gui/model_memory_estimate.cpp), which has only the file's metadata and is
// also built without CUDA. Doubles: the app's inputs come from an untrusted file, so a huge shape
// gives a huge number, never an overflow.
namespace hearth {

inline constexpr double kCudaLogitRows = 64;                      // logits rows per output pass
inline constexpr double kCudaGemmTileBytes = 64.0 * (1 << 20);    // dequantized weight tile
inline constexpr double kCudaContextMarginBytes = 512.0 * (1 << 20);  // CUDA context, cuBLAS, fragmentation

struct CudaBufferShape {
  double n_embd = 0, q_dim = 0, kv_dim = 0, n_ff = 0, n_vocab = 0;
  double context = 0;    // positions a sequence may hold (the RoPE table's rows)
  double rope_dims = 0;  // rotated dimensions per head
  double max_batch = 0;  // tokens per pass
};

inline double cuda_buffer_bytes(const CudaBufferShape& s) {
  const double wide = s.n_embd > s.n_ff ? s.n_embd : s.n_ff;
  const double qkv_or_ffn = s.q_dim + 2 * s.kv_dim > 2 * s.n_ff ? s.q_dim + 2 * s.kv_dim : 2 * s.n_ff;
  const double attn_in = s.n_embd > s.q_dim ? s.n_embd : s.q_dim;
  // x, h, proj / attention input / q, attention output / k, v / gate, up / fused qkv or gate|up.
  const double act = s.max_batch * (2 * s.n_embd + attn_in + 2 * s.q_dim + 2 * s.kv_dim + 2 * s.n_ff + qkv_or_ffn);
  const double logits = kCudaLogitRows * (s.n_embd + s.n_vocab);
  const double rope = s.context * s.rope_dims;
  const double gemm = 2 * s.max_batch * wide + kCudaGemmTileBytes;
  return 4 * (act + logits + rope) + gemm + kCudaContextMarginBytes;
}

}  // namespace hearth
