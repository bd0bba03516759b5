#include "core/backend/cuda/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>

#include "core/backend/cuda/cuda_check.h"
#include "core/backend/cuda/device_buffer.h"
#include "core/backend/cuda/kernel_profiler.h"
#include "core/backend/cuda/nvml_device.h"
#include "core/backend/cuda_buffer_estimate.h"  // [host5] energy counter
#include "core/common/error.h"
#include "kernels/cpu/quant.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/logit_select.h"  // [host5]
#include "kernels/cuda/paged_attention.h"
#include "kernels/cuda/prefill_attention.h"  // [pre4]
#include "kernels/cuda/quant_matmul.h"
#include "kernels/cuda/rms_norm.h"
#include "kernels/cuda/rope_kv_write.h"
#include "kernels/cuda/swiglu.h"

namespace hearth {

namespace kcu = kernels::cuda;
using cuda_detail::check;
using cuda_detail::DeviceBuffer;
using cuda_detail::gib;
using cuda_detail::PinnedBuffer;

namespace {

constexpr int64_t kLogitRows = 64;        // rows of logits computed per output-matmul pass
static_assert(kLogitRows == static_cast<int64_t>(kCudaLogitRows));
// [mv5] Passes of up to 64 tokens (decode steps of up to 8 streams x speculative verify of k + 1
// tokens) take the batch-invariant int8 tensor-core matvec and are graph-captured.
constexpr int64_t kMaxGraphTokens = 64;   // decode batches up to this size are graph-captured
constexpr int64_t kMaxMatvecRows = kcu::kMaxMatvecRows;  // quant_gemm's matvec path (int8 activations) up to here
// Passes made only of prompt chunks (no decode or verify row: every slice wants fewer logits than
// it has tokens) take the decode path only up to this many tokens; above it they take the prefill
// path: the tiled prefill attention (one K/V read per tile of tokens instead of per token: a warm
// prompt of ~50 tokens over a cached prefix) and quant_gemm (which itself keeps products of up
// to kMaxMatvecRows rows on the matvec). No decode row's bits depend on this choice.
constexpr int64_t kMaxPromptMatvecRows = 16;
constexpr int kMaxSplits = 32;            // attention splits of the decode path

int64_t resolve_context(const ModelConfig& c, const CudaBackendOptions& o) {
  return o.context_size > 0 ? o.context_size : std::min<int64_t>(c.n_ctx_train, 4096);
}
int64_t resolve_kv_blocks(const ModelConfig& c, const CudaBackendOptions& o) {
  const int64_t per_seq = (resolve_context(c, o) + o.block_tokens - 1) / o.block_tokens;
  return o.kv_blocks > 0 ? o.kv_blocks : per_seq;
}
// Bytes a matrix takes on the device: as stored, or repacked when that is larger.
uint64_t device_matrix_bytes(const MatrixView& m, bool repack) {
  const uint64_t repacked = repack ? kcu::repacked_bytes(m.type, m.n_rows, m.n_cols) : 0;
  return std::max<uint64_t>(m.bytes(), repacked);
}
// KV blocks hold the backend's own layers only (partial offload: layer_range.h).
uint64_t kv_pool_bytes(const ModelConfig& c, const CudaBackendOptions& o) {
  return static_cast<uint64_t>(resolve_kv_blocks(c, o)) * 2 * o.layers.count(c.n_layer) * c.n_head_kv *
         o.block_tokens * c.head_dim * 2;
}

// Per-token metadata of one device pass, in one pinned host array and one device array, so a
// single copy moves it (also inside a captured graph). int32 regions:
//   [positions: B][table_offsets: B][logit_rows: B][tables: B * max_blocks_per_seq]
struct MetaLayout {
  int64_t max_tokens = 0;
  int64_t max_blocks_per_seq = 0;
  int64_t positions() const { return 0; }
  int64_t table_offsets() const { return max_tokens; }
  int64_t logit_rows() const { return 2 * max_tokens; }
  int64_t tables() const { return 3 * max_tokens; }
  int64_t total() const { return 3 * max_tokens + max_tokens * max_blocks_per_seq; }
};

}  // namespace

CudaMemoryEstimate estimate_cuda_memory(const ModelConfig& c, const ModelWeights& w, const CudaBackendOptions& o) {
  CudaMemoryEstimate e;
  if (!o.layers.check(c.n_layer).empty()) return e;  // the backend refuses such a range
  // The output head lives with the last layer; a range's own layers only (partial offload).
  if (o.layers.last(c.n_layer)) e.weights = device_matrix_bytes(w.output, o.repack_weights);
  for (int64_t il = o.layers.begin; il < o.layers.resolved_end(c.n_layer); ++il) {
    const auto& l = w.layers[static_cast<size_t>(il)];
    for (const MatrixView* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      e.weights += device_matrix_bytes(*m, o.repack_weights);
    }
    e.weights += sizeof(float) * (l.attn_norm.size() + l.ffn_norm.size() + l.bq.size() + l.bk.size() + l.bv.size() +
                                  l.q_norm.size() + l.k_norm.size());
  }
  e.kv_cache = kv_pool_bytes(c, o);
  CudaBufferShape b;
  b.n_embd = static_cast<double>(c.n_embd);
  b.q_dim = static_cast<double>(c.q_dim());
  b.kv_dim = static_cast<double>(c.kv_dim());
  b.n_ff = static_cast<double>(c.n_ff);
  b.n_vocab = static_cast<double>(c.n_vocab);
  b.context = static_cast<double>(resolve_context(c, o));
  b.rope_dims = static_cast<double>(c.rope_dims);
  b.max_batch = static_cast<double>(o.max_batch);
  e.buffers = static_cast<uint64_t>(cuda_buffer_bytes(b));  // a validated config: far below 2^53
  return e;
}

struct CudaBackend::Impl {
  struct Matrix {
    DeviceBuffer buffer;
    kcu::QuantWeights w;
  };
  // Q/K/V (and gate/up) of the same type are stored as one matrix with their rows stacked, so a
  // decode step reads them in one product (one launch, one activation quantization) instead of
  // three (two). When only V differs (q4_k_m gives some layers a Q6_K V), Q/K are stacked.
  // Otherwise they stay separate.
  struct Layer {
    Matrix qkv, qk, gate_up;              // fused, when their types agree
    Matrix wq, wk, wv, wo, gate, up, down;
    DeviceBuffer attn_norm, ffn_norm, bq, bk, bv, q_norm, k_norm;
    // Decode-sized passes: whether the products reading the attention input / the attention
    // output / the FFN input / the SwiGLU output all take the int8 input form (quant_matmul.h
    // q8_input), which the norm, attention and SwiGLU kernels then write directly (no
    // quantization launch per product).
    bool attn_q8 = false, wo_q8 = false, ffn_q8 = false, down_q8 = false;
    // [mv5] The int8 form (q8_form.h) those products read: that of their weight type.
    kcu::Q8Form attn_form = kcu::Q8Form::kBlock32, ffn_form = kcu::Q8Form::kBlock32,
                down_form = kcu::Q8Form::kBlock32;
  };

  const ModelConfig& config;
  const ModelWeights& host_weights;
  CudaBackendOptions options;
  int64_t n_ctx = 0;
  int64_t max_batch = 0;
  KvGeometry geometry;
  int64_t n_blocks = 0;
  std::string name;
  int sm_count = 0;
  bool graphs_enabled = true;
  int64_t graph_replays = 0;
  int64_t prefill_max_len = 0;  // [pre4] longest sequence of the pass being enqueued (prefill_attention splits)
  uint64_t allocated = 0;
  uint64_t matrix_bytes = 0;
  // Partial offload (layer_range.h): this backend computes model layers layer_begin ..
  // layer_begin + n_local - 1; `layers` and the KV blocks hold those only. last_stage: the range
  // ends at the model's last layer (output head here, logits out); else the residual stream
  // leaving the range is copied out (hidden_host).
  int64_t layer_begin = 0;
  int64_t n_local = 0;
  bool last_stage = true;
  bool whole_model() const { return layer_begin == 0 && last_stage; }

  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;

  std::vector<Layer> layers;
  Matrix output;
  DeviceBuffer output_norm, rope_table, kv_pool;
  // Activations, [max_batch, width] float32.
  DeviceBuffer x, h, q, k, v, attn, proj, gate, up, fused_out;  // fused_out: [B, max(q+2kv, 2 n_ff)]
  DeviceBuffer logit_in, logits;  // [kLogitRows, n_embd], [kLogitRows, n_vocab]
  DeviceBuffer gemm_workspace, attention_workspace, meta;
  // [dec4] Split partials and merge counters of the decode-sized attention (zeroed once: the
  // kernels leave the counters at zero; paged_attention.h). Separate from attention_workspace,
  // which the prefill attention may fill entirely.
  DeviceBuffer decode_attention_workspace;
  PinnedBuffer meta_host, x_host, logits_host;
  PinnedBuffer hidden_host;  // [max_batch, n_embd]: a range ending before the last layer
  MetaLayout meta_layout;
  std::map<int64_t, cudaGraphExec_t> decode_graphs;  // by graph_key(tokens, logit rows) [dec4]
  std::unique_ptr<cuda_detail::KernelProfiler> profiler;  // when profiling (options.profile)
  // [host5] forward_batch_select: while defer_logits is set a pass leaves its logits on the
  // device (no whole-row copy; graphs of such passes are kept apart), and only the rows' best
  // entries (logit_select.h) and the rows asked for whole come back.
  bool defer_logits = false;
  std::vector<float> deferred_rows;  // forward_batch's output while deferring (left unwritten)
  DeviceBuffer select_workspace, select_out;  // [kLogitRows, kLogitSelectMaxK] candidates
  PinnedBuffer select_host;
  std::unique_ptr<NvmlDevice> nvml;  // [host5] opened on the first energy_joules()

  Impl(const ModelConfig& c, const ModelWeights& w, const CudaBackendOptions& o)
      : config(c), host_weights(w), options(o) {}
  ~Impl() {
    if (profiler) {
      try {
        if (const std::string r = profiler->report(); !r.empty()) spdlog::info("{}: {}", name, r);
      } catch (...) {  // a destructor must not throw; the report is a diagnostic
      }
      profiler.reset();
    }
    for (auto& [n, exec] : decode_graphs) (void)cudaGraphExecDestroy(exec);
    if (cublas) (void)cublasDestroy(cublas);
    if (stream) (void)cudaStreamDestroy(stream);
  }

  DeviceBuffer alloc(size_t bytes, std::string_view what) {
    DeviceBuffer b(bytes, what);
    allocated += bytes;
    return b;
  }
  DeviceBuffer upload_floats(const std::vector<float>& v, std::string_view what) {
    DeviceBuffer b = alloc(v.size() * sizeof(float), what);
    if (!v.empty()) check(cudaMemcpy(b.get(), v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice), what);
    return b;
  }
  Matrix upload_matrix(const MatrixView& m, std::string_view what) { return upload_stacked({&m}, what); }

  // Whether matrices can be stacked into one (same type and width).
  static bool stackable(std::initializer_list<const MatrixView*> parts) {
    for (const MatrixView* p : parts) {
      if (p->type != (*parts.begin())->type || p->n_cols != (*parts.begin())->n_cols) return false;
    }
    return true;
  }

  // Uploads matrices of one type and width as one matrix, rows stacked in order (GGUF rows are
  // contiguous, so stacking is concatenation), then repacks it when the type has a layout.
  Matrix upload_stacked(std::initializer_list<const MatrixView*> parts, std::string_view what) {
    const MatrixView& first = **parts.begin();
    Matrix out;
    out.w.type = first.type;
    out.w.cols = first.n_cols;
    uint64_t bytes = 0;
    for (const MatrixView* p : parts) {
      out.w.rows += p->n_rows;
      bytes += p->bytes();
    }
    DeviceBuffer stored(bytes, what);
    uint64_t offset = 0;
    for (const MatrixView* p : parts) {
      check(cudaMemcpy(stored.get<std::byte>() + offset, p->data, p->bytes(), cudaMemcpyHostToDevice), what);
      offset += p->bytes();
    }
    const size_t repacked = options.repack_weights ? kcu::repacked_bytes(out.w.type, out.w.rows, out.w.cols) : 0;
    if (repacked > 0) {
      DeviceBuffer packed(repacked, what);
      check(kcu::repack_weights(out.w.type, stored.get(), packed.get(), out.w.rows, out.w.cols, stream), what);
      check(cudaStreamSynchronize(stream), what);
      out.buffer = std::move(packed);
      out.w.repacked = true;
    } else {
      out.buffer = std::move(stored);
    }
    out.w.data = out.buffer.get();
    allocated += out.buffer.bytes();
    matrix_bytes += out.buffer.bytes();
    return out;
  }

  void init() {
    const auto& c = config;
    n_ctx = resolve_context(c, options);
    max_batch = std::max<int64_t>(1, options.max_batch);
    if (options.block_tokens <= 0) throw Error("CUDA backend: block_tokens must be positive");
    if (const std::string bad = options.layers.check(c.n_layer); !bad.empty()) throw Error("CUDA backend: " + bad);
    layer_begin = options.layers.begin;
    n_local = options.layers.count(c.n_layer);
    last_stage = options.layers.last(c.n_layer);
    geometry = KvGeometry{n_local, c.n_head_kv, c.head_dim, options.block_tokens, DType::F16};
    n_blocks = resolve_kv_blocks(c, options);
    if (n_blocks > std::numeric_limits<int32_t>::max()) throw Error("CUDA backend: too many KV blocks");

    int count = 0;
    check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
    if (options.device < 0 || options.device >= count) {
      throw Error(fmt::format("CUDA device {} does not exist ({} found)", options.device, count));
    }
    check(cudaSetDevice(options.device), "cudaSetDevice");
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, options.device), "cudaGetDeviceProperties");
    name = prop.name;
    sm_count = prop.multiProcessorCount;

    // Fit check before any large allocation.
    const CudaMemoryEstimate need = estimate_cuda_memory(c, host_weights, options);
    size_t free = 0, total = 0;
    check(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
    if (need.total() > free) {
      throw Error(fmt::format(
          "the model does not fit on {}: it needs about {} (weights {}, KV cache {} for {} blocks, buffers {}), "
          "but only {} of {} are free; try a smaller --ctx-size or the CPU",
          name, gib(double(need.total())), gib(double(need.weights)), gib(double(need.kv_cache)), n_blocks,
          gib(double(need.buffers)), gib(double(free)), gib(double(total))));
    }

    check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
    check(cublasCreate(&cublas), "cublasCreate");
    check(cublasSetStream(cublas, stream), "cublasSetStream");
    const char* profile_env = std::getenv("HEARTH_CUDA_PROFILE");
    if (options.profile || (profile_env && *profile_env && std::string_view(profile_env) != "0")) {
      profiler = std::make_unique<cuda_detail::KernelProfiler>(stream);
      spdlog::info("{}: profiling every operation (passes run without CUDA graphs)", name);
    }

    const auto t0 = std::chrono::steady_clock::now();
    if (whole_model()) {
      spdlog::info("{}: loading {} layers ({} of weights, {} free)", name, c.n_layer, gib(double(need.weights)),
                   gib(double(free)));
    } else {
      spdlog::info("{}: loading layers {} .. {} of {}{} ({} of weights, {} free)", name, layer_begin,
                   layer_begin + n_local - 1, c.n_layer, last_stage ? " and the output head" : "",
                   gib(double(need.weights)), gib(double(free)));
    }
    layers.resize(static_cast<size_t>(n_local));
    for (int64_t il = 0; il < n_local; ++il) {
      const auto& hl = host_weights.layers[static_cast<size_t>(layer_begin + il)];
      auto& l = layers[static_cast<size_t>(il)];
      if (options.fuse_matrices && stackable({&hl.wq, &hl.wk, &hl.wv})) {
        l.qkv = upload_stacked({&hl.wq, &hl.wk, &hl.wv}, "attn_qkv");
      } else if (options.fuse_matrices && stackable({&hl.wq, &hl.wk})) {
        l.qk = upload_stacked({&hl.wq, &hl.wk}, "attn_qk");
        l.wv = upload_matrix(hl.wv, "attn_v");
      } else {
        l.wq = upload_matrix(hl.wq, "attn_q");
        l.wk = upload_matrix(hl.wk, "attn_k");
        l.wv = upload_matrix(hl.wv, "attn_v");
      }
      l.wo = upload_matrix(hl.wo, "attn_output");
      if (options.fuse_matrices && stackable({&hl.w_gate, &hl.w_up})) {
        l.gate_up = upload_stacked({&hl.w_gate, &hl.w_up}, "ffn_gate_up");
      } else {
        l.gate = upload_matrix(hl.w_gate, "ffn_gate");
        l.up = upload_matrix(hl.w_up, "ffn_up");
      }
      l.down = upload_matrix(hl.w_down, "ffn_down");
      // [mv5] Products sharing an input share its int8 form only when their types agree on it
      // (q8_form.h); the attention kernel writes the kBlock32 form only.
      auto q8_inputs = [](std::initializer_list<const Matrix*> ms, kcu::Q8Form* form) {
        bool any = false;
        for (const Matrix* m : ms) {
          if (!m->w.data) continue;
          if (!kcu::takes_q8_input(m->w)) return false;
          if (any && kcu::q8_form(m->w.type) != *form) return false;
          *form = kcu::q8_form(m->w.type);
          any = true;
        }
        return true;
      };
      kcu::Q8Form wo_form = kcu::Q8Form::kBlock32;
      l.attn_q8 = q8_inputs({&l.qkv, &l.qk, &l.wq, &l.wk, &l.wv}, &l.attn_form);
      l.wo_q8 = c.head_dim % 32 == 0 && q8_inputs({&l.wo}, &wo_form) && wo_form == kcu::Q8Form::kBlock32;
      l.ffn_q8 = q8_inputs({&l.gate_up, &l.gate, &l.up}, &l.ffn_form);
      l.down_q8 = l.gate_up.w.data && q8_inputs({&l.down}, &l.down_form);
      // kSuper256 needs whole super-blocks of the input width
      if (l.attn_form == kcu::Q8Form::kSuper256 && c.n_embd % 256 != 0) l.attn_q8 = false;
      if (l.ffn_form == kcu::Q8Form::kSuper256 && c.n_embd % 256 != 0) l.ffn_q8 = false;
      if (l.down_form == kcu::Q8Form::kSuper256 && c.n_ff % 256 != 0) l.down_q8 = false;
      l.attn_norm = upload_floats(hl.attn_norm, "attn_norm");
      l.ffn_norm = upload_floats(hl.ffn_norm, "ffn_norm");
      l.bq = upload_floats(hl.bq, "attn_q.bias");
      l.bk = upload_floats(hl.bk, "attn_k.bias");
      l.bv = upload_floats(hl.bv, "attn_v.bias");
      l.q_norm = upload_floats(hl.q_norm, "attn_q_norm");
      l.k_norm = upload_floats(hl.k_norm, "attn_k_norm");
      const int64_t step = std::max<int64_t>(1, n_local / 4);
      if ((il + 1) % step == 0 || il + 1 == n_local) {
        spdlog::info("{}: loaded {}/{} layers", name, il + 1, n_local);
      }
    }
    if (last_stage) {
      output = upload_matrix(host_weights.output, "output");
      output_norm = upload_floats(host_weights.output_norm, "output_norm");
    }

    // RoPE (cos, sin) per position, computed as the CPU backend does (double angle of a float
    // frequency) so both paths rotate by the same numbers. [n_ctx][rope_dims / 2][2]
    const int64_t half = c.rope_dims / 2;
    std::vector<float> table(static_cast<size_t>(n_ctx * half * 2));
    for (int64_t i = 0; i < half; ++i) {
      double f = std::pow(static_cast<double>(c.rope_base), -2.0 * static_cast<double>(i) / static_cast<double>(c.rope_dims));
      if (!host_weights.rope_freq_factors.empty()) f /= host_weights.rope_freq_factors[static_cast<size_t>(i)];
      const float inv_freq = static_cast<float>(f);
      for (int64_t p = 0; p < n_ctx; ++p) {
        const double angle = static_cast<double>(p) * static_cast<double>(inv_freq);
        table[static_cast<size_t>((p * half + i) * 2)] = static_cast<float>(std::cos(angle));
        table[static_cast<size_t>((p * half + i) * 2 + 1)] = static_cast<float>(std::sin(angle));
      }
    }
    rope_table = upload_floats(table, "rope table");

    kv_pool = alloc(static_cast<size_t>(n_blocks * geometry.block_bytes()), "KV cache");
    const size_t B = static_cast<size_t>(max_batch), f = sizeof(float);
    x = alloc(B * c.n_embd * f, "activations");
    h = alloc(B * std::max(c.n_embd, c.q_dim()) * f, "activations");
    q = alloc(B * c.q_dim() * f, "activations");
    k = alloc(B * c.kv_dim() * f, "activations");
    v = alloc(B * c.kv_dim() * f, "activations");
    attn = alloc(B * c.q_dim() * f, "activations");
    proj = alloc(B * c.n_embd * f, "activations");
    gate = alloc(B * c.n_ff * f, "activations");
    up = alloc(B * c.n_ff * f, "activations");
    fused_out = alloc(B * std::max(c.q_dim() + 2 * c.kv_dim(), 2 * c.n_ff) * f, "activations");
    if (last_stage) {
      logit_in = alloc(kLogitRows * c.n_embd * f, "logits");
      logits = alloc(kLogitRows * c.n_vocab * f, "logits");
    }

    size_t ws = last_stage ? kcu::gemm_workspace_bytes(output.w, std::min<int64_t>(kLogitRows, max_batch)) : 0;
    for (const auto& l : layers) {
      for (const Matrix* m : {&l.qkv, &l.qk, &l.gate_up, &l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) {
        if (!m->w.data) continue;
        ws = std::max({ws, kcu::gemm_workspace_bytes(m->w, max_batch),
                       kcu::matvec_workspace_bytes(m->w, std::min<int64_t>(kMaxMatvecRows, max_batch))});
      }
    }
    // The int8 inputs written by the norm and SwiGLU kernels of decode-sized passes.
    const int64_t q8_rows = std::min(kMaxMatvecRows, max_batch);
    ws = std::max({ws, kcu::q8_input_bytes(q8_rows, c.n_embd), kcu::q8_input_bytes(q8_rows, c.n_ff),
                   kcu::q8_input_bytes(q8_rows, c.q_dim())});
    gemm_workspace = alloc(ws, "matmul workspace");
    kcu::PagedAttentionShape split_shape = attention_shape(std::min<int64_t>(max_batch, kMaxGraphTokens), 0, kMaxSplits);
    attention_workspace = alloc(kcu::paged_attention_workspace_bytes(split_shape), "attention workspace");
    decode_attention_workspace = alloc(kcu::paged_attention_workspace_bytes(split_shape), "attention workspace");
    if (decode_attention_workspace.bytes() > 0) {
      check(cudaMemset(decode_attention_workspace.get(), 0, decode_attention_workspace.bytes()), "attention workspace");
    }

    meta_layout.max_tokens = max_batch;
    meta_layout.max_blocks_per_seq = geometry.blocks_for(n_ctx);
    meta = alloc(static_cast<size_t>(meta_layout.total()) * sizeof(int32_t), "batch metadata");
    meta_host = PinnedBuffer(static_cast<size_t>(meta_layout.total()) * sizeof(int32_t), "batch metadata");
    x_host = PinnedBuffer(B * c.n_embd * f, "embeddings");
    if (last_stage) {
      logits_host = PinnedBuffer(kLogitRows * c.n_vocab * f, "logits");
    } else {
      hidden_host = PinnedBuffer(B * c.n_embd * f, "hidden states");
    }
    // [host5] Best-entries selection for up to kLogitRows rows (none for vocabularies too large).
    if (const size_t sw = !whole_model() ? 0 : kcu::logit_select_workspace_bytes(kLogitRows, c.n_vocab, kcu::kLogitSelectMaxK); sw > 0) {
      const size_t out_bytes = static_cast<size_t>(kLogitRows * kcu::kLogitSelectMaxK) * sizeof(kcu::LogitCandidate);
      select_workspace = alloc(sw, "logit selection");
      select_out = alloc(out_bytes, "logit selection");
      select_host = PinnedBuffer(out_bytes, "logit selection");
    }
    check(cudaMemset(kv_pool.get(), 0, kv_pool.bytes()), "KV cache clear");
    check(cudaDeviceSynchronize(), "loading the model");
    graphs_enabled = options.cuda_graphs;
    spdlog::info("{}: model loaded in {:.1f} s, {} of device memory ({} weights, {} KV cache for {} blocks)", name,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), gib(double(allocated)),
                 gib(double(matrix_bytes)), gib(double(kv_pool.bytes())), n_blocks);
  }

  kcu::PagedAttentionShape attention_shape(int64_t n_tokens, int64_t layer, int n_splits) const {
    kcu::PagedAttentionShape s;
    s.n_tokens = n_tokens;
    s.n_head = config.n_head;
    s.layer = layer;
    s.kv = {n_local, config.n_head_kv, config.head_dim, geometry.block_tokens};
    s.scale = 1.0f / std::sqrt(static_cast<float>(config.head_dim));
    s.n_splits = n_splits;
    if (n_tokens <= kMaxGraphTokens) {
      // [dec4] Decode-sized passes split every token's positions into fixed ranges
      // (paged_attention.h split_positions), whatever n_splits says: a token's result then does
      // not depend on the batch, so speculative verify rows equal plain decode bit for bit.
      s.split_positions = decode_split_positions();
      s.n_splits = static_cast<int>((n_ctx + s.split_positions - 1) / s.split_positions);
    }
    return s;
  }
  // [dec4] Positions per attention split of decode-sized passes: 64, or more for contexts over
  // 4096 so that at most 64 splits cover the context.
  int64_t decode_split_positions() const { return std::max<int64_t>(64, ((n_ctx + 63) / 64 + 63) / 64 * 64); }
  // [dec4] Graphs of passes of up to kMaxGraphTokens tokens, by tokens and logit rows.
  static int64_t graph_key(int64_t n, int64_t n_logit_rows) { return n * (kMaxGraphTokens + 1) + n_logit_rows; }

  // Splits of the attention over positions: enough thread blocks to fill the device when few
  // tokens attend to a long context; one split when the tokens alone fill it.
  int attention_splits(int64_t n_tokens, int64_t max_len) const {
    if (n_tokens > kMaxGraphTokens) return 1;
    const int64_t blocks = n_tokens * config.n_head_kv;
    const int64_t want = (2 * int64_t{sm_count} + blocks - 1) / blocks;
    const int64_t useful = (max_len + 63) / 64;  // at least 64 positions per split
    return static_cast<int>(std::clamp<int64_t>(std::min(want, useful), 1, kMaxSplits));
  }

  // Checks an enqueued operation; when profiling, the GPU time since the previous one is its own.
  void op(cudaError_t status, std::string_view what) {
    check(status, what);
    if (profiler && profiler->active()) profiler->mark(what);
  }

  void matmul(const Matrix& m, const float* in, int64_t rows, float* out, std::string_view what) {
    op(kcu::quant_gemm(m.w, in, rows, out, gemm_workspace.get(), cublas, stream), what);
  }
  // A product whose input `in` is also in the int8 form at the start of gemm_workspace when
  // q8_ready (written by the kernel that computed it): the matvec reads that form directly.
  void matmul_in(const Matrix& m, const float* in, int64_t rows, float* out, std::string_view what, bool q8_ready) {
    if (q8_ready) {
      op(kcu::quant_matvec_q8_input(m.w, gemm_workspace.get(), rows, out, stream), what);
    } else {
      matmul(m, in, rows, out, what);
    }
  }

  // Enqueues one device pass over n tokens whose metadata and embeddings are in meta_host /
  // x_host; leaves the first n_logit_rows rows of logits (computed for the rows listed in the
  // metadata's logit_rows, starting at logit_first) in `logits`.
  // matvec_pass: the int8 matvec path and the decode attention (passes of at most kMaxMatvecRows
  // tokens; run_pass decides), else FP16 GEMMs and the tiled prefill attention.
  void enqueue_layers(int64_t n, int attention_split_count, bool matvec_pass) {
    const auto& c = config;
    const int32_t* meta_dev = meta.get<int32_t>();
    const int32_t* positions = meta_dev + meta_layout.positions();
    const int32_t* table_offsets = meta_dev + meta_layout.table_offsets();
    const int32_t* tables = meta_dev + meta_layout.tables();
    float* X = x.get<float>();
    float* H = h.get<float>();
    float* P = proj.get<float>();
    void* q8 = gemm_workspace.get();
    const bool small = matvec_pass;
    for (int64_t il = 0; il < n_local; ++il) {  // local layer index: weights and KV of this range
      const auto& l = layers[static_cast<size_t>(il)];
      const bool attn_q8 = small && l.attn_q8, wo_q8 = small && l.wo_q8;
      const bool ffn_q8 = small && l.ffn_q8, down_q8 = small && l.down_q8;
      if (il == 0) {
        op(attn_q8 ? kcu::rms_norm_q8(X, l.attn_norm.get<float>(), H, n, c.n_embd, c.rms_eps, q8, stream, l.attn_form)
                   : kcu::rms_norm(X, l.attn_norm.get<float>(), H, n, c.n_embd, c.rms_eps, stream),
           "rms_norm");
      } else {
        op(kcu::residual_rms_norm_q8(X, P, l.attn_norm.get<float>(), H, n, c.n_embd, c.rms_eps,
                                     attn_q8 ? q8 : nullptr, stream, l.attn_form),
           "rms_norm");
      }
      // [n, q_dim], [n, kv_dim], [n, kv_dim]
      float* Q = q.get<float>();
      float* K = k.get<float>();
      float* Vv = v.get<float>();
      if (l.qkv.w.data) {
        // One product into [n, q_dim + 2 kv_dim]; a single row is already q | k | v.
        float* out = fused_out.get<float>();
        const int64_t width = c.q_dim() + 2 * c.kv_dim();
        matmul_in(l.qkv, H, n, out, "attn_qkv", attn_q8);
        if (n == 1) {
          Q = out;
          K = out + c.q_dim();
          Vv = out + c.q_dim() + c.kv_dim();
        } else {
          op(kcu::copy_columns(out, n, width, 0, c.q_dim(), Q, stream), "split q");
          op(kcu::copy_columns(out, n, width, c.q_dim(), c.kv_dim(), K, stream), "split k");
          op(kcu::copy_columns(out, n, width, c.q_dim() + c.kv_dim(), c.kv_dim(), Vv, stream), "split v");
        }
      } else if (l.qk.w.data) {
        // [n, q_dim + kv_dim]; a single row is already q | k.
        float* out = fused_out.get<float>();
        const int64_t width = c.q_dim() + c.kv_dim();
        matmul_in(l.qk, H, n, out, "attn_qk", attn_q8);
        matmul_in(l.wv, H, n, Vv, "attn_v", attn_q8);
        if (n == 1) {
          Q = out;
          K = out + c.q_dim();
        } else {
          op(kcu::copy_columns(out, n, width, 0, c.q_dim(), Q, stream), "split q");
          op(kcu::copy_columns(out, n, width, c.q_dim(), c.kv_dim(), K, stream), "split k");
        }
      } else {
        matmul_in(l.wq, H, n, Q, "attn_q", attn_q8);
        matmul_in(l.wk, H, n, K, "attn_k", attn_q8);
        matmul_in(l.wv, H, n, Vv, "attn_v", attn_q8);
      }
      if (c.qkv_bias) {
        op(kcu::add_bias_rows(Q, l.bq.get<float>(), n, c.q_dim(), stream), "q bias");
        op(kcu::add_bias_rows(K, l.bk.get<float>(), n, c.kv_dim(), stream), "k bias");
        op(kcu::add_bias_rows(Vv, l.bv.get<float>(), n, c.kv_dim(), stream), "v bias");
      }
      if (c.qk_norm) {
        op(kcu::rms_norm(Q, l.q_norm.get<float>(), Q, n * c.n_head, c.head_dim, c.rms_eps, stream), "q norm");
        op(kcu::rms_norm(K, l.k_norm.get<float>(), K, n * c.n_head_kv, c.head_dim, c.rms_eps, stream), "k norm");
      }
      kcu::RopeKvShape rs;
      rs.n_tokens = n;
      rs.n_head = c.n_head;
      rs.rope_dims = c.rope_dims;
      rs.halves = c.rope_style == RopeStyle::kHalves;
      rs.layer = il;
      rs.kv = {n_local, c.n_head_kv, c.head_dim, geometry.block_tokens};
      op(kcu::rope_kv_write(Q, K, Vv, rope_table.get<float>(), positions,
                               table_offsets, tables, kv_pool.get(), rs, stream),
            "rope_kv_write");
      if (!matvec_pass && kcu::prefill_attention_supported(attention_shape(n, il, 1))) {  // [pre4] prefill
        kcu::PagedAttentionShape ps = attention_shape(n, il, 1);
        ps.split_positions = 0;  // the decode form's fixed ranges; prefill splits by ps.n_splits
        ps.n_splits = kcu::prefill_attention_splits(ps, prefill_max_len, sm_count, attention_workspace.bytes());
        op(kcu::prefill_attention(Q, kv_pool.get(), positions, table_offsets, tables, attn.get<float>(),
                                  attention_workspace.get(), ps, stream),
           "prefill_attention");
      } else {
        op(kcu::paged_attention_q8(Q, kv_pool.get(), positions, table_offsets, tables, attn.get<float>(),
                                   n <= kMaxGraphTokens ? decode_attention_workspace.get() : attention_workspace.get(),
                                   attention_shape(n, il, attention_split_count),
                                   wo_q8 ? q8 : nullptr, stream),
           "paged_attention");
      }
      matmul_in(l.wo, attn.get<float>(), n, P, "attn_output", wo_q8);
      op(kcu::residual_rms_norm_q8(X, P, l.ffn_norm.get<float>(), H, n, c.n_embd, c.rms_eps, ffn_q8 ? q8 : nullptr,
                                   stream, l.ffn_form),
         "rms_norm");
      if (l.gate_up.w.data) {
        matmul_in(l.gate_up, H, n, fused_out.get<float>(), "ffn_gate_up", ffn_q8);  // [n, 2 n_ff]
        op(kcu::silu_mul_halves_q8(fused_out.get<float>(), gate.get<float>(), n, c.n_ff, down_q8 ? q8 : nullptr,
                                   stream, l.down_form),
           "silu_mul");
      } else {
        matmul_in(l.gate, H, n, gate.get<float>(), "ffn_gate", ffn_q8);
        matmul_in(l.up, H, n, up.get<float>(), "ffn_up", ffn_q8);
        op(kcu::silu_mul(gate.get<float>(), up.get<float>(), n * c.n_ff, stream), "silu_mul");
      }
      matmul_in(l.down, gate.get<float>(), n, P, "ffn_down", down_q8);
    }
    op(kcu::add_inplace(X, P, n * c.n_embd, stream), "residual");
  }

  // Output norm + vocabulary product for `rows` rows listed at logit_rows[first ..], into logits.
  void enqueue_logits(int64_t first, int64_t rows) {
    const int32_t* row_index = meta.get<int32_t>() + meta_layout.logit_rows() + first;
    op(kcu::rms_norm(x.get<float>(), output_norm.get<float>(), logit_in.get<float>(), rows, config.n_embd,
                        config.rms_eps, stream, row_index),
          "output norm");
    matmul(output, logit_in.get<float>(), rows, logits.get<float>(), "output");
    if (defer_logits) return;  // [host5] forward_batch_select copies what it needs
    op(cudaMemcpyAsync(logits_host.get(), logits.get(), static_cast<size_t>(rows * config.n_vocab) * sizeof(float),
                          cudaMemcpyDeviceToHost, stream),
          "logits copy");
  }

  // Partial offload, a range ending before the last layer: the residual stream leaving it
  // (x after enqueue_layers' final residual add), [n, n_embd], to hidden_host.
  void enqueue_hidden_out(int64_t n) {
    op(cudaMemcpyAsync(hidden_host.get(), x.get(), static_cast<size_t>(n * config.n_embd) * sizeof(float),
                       cudaMemcpyDeviceToHost, stream),
       "hidden copy");
  }

  void enqueue_inputs(int64_t n, int64_t n_seqs) {
    const size_t meta_bytes =
        static_cast<size_t>(meta_layout.tables() + n_seqs * meta_layout.max_blocks_per_seq) * sizeof(int32_t);
    op(cudaMemcpyAsync(meta.get(), meta_host.get(), meta_bytes, cudaMemcpyHostToDevice, stream), "metadata copy");
    op(cudaMemcpyAsync(x.get(), x_host.get(), static_cast<size_t>(n * config.n_embd) * sizeof(float),
                          cudaMemcpyHostToDevice, stream),
          "embedding copy");
  }

  // A pass of n <= kMaxGraphTokens tokens (decode steps of n sequences, or a few tokens of one
  // sequence, e.g. speculative verify) with n_logit_rows logit rows, as a graph replay. [dec4]
  // Everything that varies between steps is in the metadata copied at its start (the tables of up
  // to n sequences: n_seqs <= n), so one graph serves every pass of that shape.
  void run_decode_graph(int64_t n, int64_t n_logit_rows) {
    check(cudaGraphLaunch(decode_graph(n, n_logit_rows), stream), "graph launch");
    ++graph_replays;
  }
  // The graph of that pass shape (and logits destination), captured on first use.
  cudaGraphExec_t decode_graph(int64_t n, int64_t n_logit_rows) {
    // [host5] deferred logits apart; a range ending early has one graph per token count
    const int64_t key = !last_stage ? graph_key(n, 0)
                                    : graph_key(n, n_logit_rows) + (defer_logits ? (int64_t{1} << 40) : 0);
    auto it = decode_graphs.find(key);
    if (it == decode_graphs.end()) {
      cudaGraph_t graph = nullptr;
      check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "graph capture");
      try {
        enqueue_inputs(n, n);
        enqueue_layers(n, attention_splits(n, n_ctx), true);
        if (!last_stage) {
          enqueue_hidden_out(n);
        } else if (n_logit_rows > 0) {
          enqueue_logits(0, n_logit_rows);
        }
      } catch (...) {
        (void)cudaStreamEndCapture(stream, &graph);
        if (graph) (void)cudaGraphDestroy(graph);
        (void)cudaGetLastError();
        throw;
      }
      check(cudaStreamEndCapture(stream, &graph), "graph capture");
      cudaGraphExec_t exec = nullptr;
      const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
      (void)cudaGraphDestroy(graph);
      check(e, "graph instantiate");
      it = decode_graphs.emplace(key, exec).first;  // [host5]
    }
    return it->second;
  }

  // Decode and verify passes (n tokens with a logit row each, n <= kMaxGraphTokens) replay graphs
  // captured here at load, logits copied to the host or kept on the device: captured lazily, each
  // new shape cost several decode steps on its first pass, which landed in a request's time and
  // in the speculative-decoding planner's step-cost measurements. Tens of ms per model; skipped
  // with HEARTH_CUDA_NO_WARMUP=1.
  void precapture_decode_graphs() {
    if (!graphs_enabled || profiler) return;
    if (const char* off = std::getenv("HEARTH_CUDA_NO_WARMUP"); off && off[0] == '1') return;
    const bool saved = defer_logits;
    try {
      for (int64_t n = 1; n <= std::min(kMaxGraphTokens, max_batch); ++n) {
        for (bool defer : {false, true}) {
          defer_logits = defer;
          (void)decode_graph(n, n);
        }
      }
    } catch (const Error& e) {
      spdlog::warn("{}: CUDA graph capture failed ({}); running decode steps without graphs", name, e.what());
      graphs_enabled = false;
    }
    defer_logits = saved;
  }

  // Runs the pass of n tokens (metadata and embeddings already in the pinned buffers) and copies
  // the logits of its n_logit_rows rows to `out` (a range ending before the last layer: the n
  // rows of the residual stream, [n, n_embd]).
  // prompt_only: no slice of the pass has a logit row per token (no decode or verify rows).
  void run_pass(int64_t n, int64_t n_seqs, int64_t max_len, int64_t n_logit_rows, bool decode, bool prompt_only,
                float* out) {
    const int64_t V = config.n_vocab;
    const bool matvec_pass = n <= (prompt_only ? kMaxPromptMatvecRows : kMaxMatvecRows);
    if (graphs_enabled && !profiler && matvec_pass && n <= kMaxGraphTokens) {  // [dec4] any pass this small
      try {
        run_decode_graph(n, n_logit_rows);
      } catch (const Error& e) {
        // Capture can fail for reasons outside our control (a library call that is not
        // capturable); fall back to plain launches for the rest of the session.
        spdlog::warn("{}: CUDA graph capture failed ({}); running decode steps without graphs", name, e.what());
        graphs_enabled = false;
        run_pass(n, n_seqs, max_len, n_logit_rows, false, prompt_only, out);
        return;
      }
      if (defer_logits) return;  // [host5] the selection that follows on the stream waits for it
      check(cudaStreamSynchronize(stream), "decode step");
      if (!last_stage) {
        std::memcpy(out, hidden_host.get(), static_cast<size_t>(n * config.n_embd) * sizeof(float));
      } else {
        std::memcpy(out, logits_host.get(), static_cast<size_t>(n_logit_rows * V) * sizeof(float));
      }
      return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    if (profiler) profiler->begin_pass(fmt::format("{} of {} tokens", decode ? "decode" : "prefill", n));
    enqueue_inputs(n, n_seqs);
    prefill_max_len = max_len;  // [pre4] prefill_attention's position splits
    enqueue_layers(n, decode ? attention_splits(n, n_ctx) : attention_splits(n, max_len), matvec_pass);
    if (!last_stage) {
      enqueue_hidden_out(n);
      check(cudaStreamSynchronize(stream), "forward pass");
      std::memcpy(out, hidden_host.get(), static_cast<size_t>(n * config.n_embd) * sizeof(float));
      if (profiler) profiler->end_pass(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      return;
    }
    for (int64_t first = 0; first < n_logit_rows; first += kLogitRows) {
      const int64_t rows = std::min(kLogitRows, n_logit_rows - first);
      enqueue_logits(first, rows);
      check(cudaStreamSynchronize(stream), "forward pass");
      if (!defer_logits) std::memcpy(out + first * V, logits_host.get(), static_cast<size_t>(rows * V) * sizeof(float));  // [host5]
    }
    if (n_logit_rows == 0) check(cudaStreamSynchronize(stream), "forward pass");
    if (profiler) {
      profiler->end_pass(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  }

  void validate(std::span<const SequenceSlice> seqs) const {
    for (size_t s = 0; s < seqs.size(); ++s) {
      const auto& q = seqs[s];
      const int64_t n = static_cast<int64_t>(q.tokens.size());
      if (q.n_past < 0 || n > n_ctx || q.n_past > n_ctx - n) {
        throw Error(fmt::format("sequence {}: {} cached + {} new tokens exceed the context size {}", s, q.n_past, n,
                                n_ctx));
      }
      if (q.n_logits < 0 || q.n_logits > n) {
        throw Error(fmt::format("sequence {}: n_logits {} is outside 0 .. {}", s, q.n_logits, n));
      }
      for (TokenId t : q.tokens) {
        if (t < 0 || t >= config.n_vocab) throw Error(fmt::format("token id {} is outside the vocabulary", t));
      }
      const int64_t needed = geometry.blocks_for(q.n_past + n);
      if (static_cast<int64_t>(q.block_table.size()) < needed) {
        throw Error(fmt::format("sequence {}: block table has {} blocks, {} needed", s, q.block_table.size(), needed));
      }
      for (int64_t i = 0; i < needed; ++i) {
        const int32_t b = q.block_table[static_cast<size_t>(i)];
        if (b < 0 || b >= n_blocks) throw Error(fmt::format("sequence {}: block id {} is outside the pool", s, b));
      }
    }
  }

  // [pre4] One prefill-sized pass of dummy tokens at load, so the first real prompt does not pay
  // the one-time cost of the first cuBLAS products of each shape (~60-70 ms on an H200 for 8B at
  // 512 tokens, with CUDA_MODULE_LOADING=EAGER too: library setup and kernel selection), which a
  // 2-repeat bench would otherwise average into pp. Its K/V go to blocks the engine has not handed
  // out yet; every block is written again before anything reads it. Not profiled.
  // HEARTH_CUDA_NO_WARMUP=1 skips it (to measure the cold cost).
  void warm_up_prefill() {
    if (const char* off = std::getenv("HEARTH_CUDA_NO_WARMUP"); off && off[0] == '1') return;
    const int64_t n = std::min({max_batch, n_ctx, n_blocks * geometry.block_tokens});
    if (n <= kMaxMatvecRows) return;
    const std::vector<TokenId> tokens(static_cast<size_t>(n), 0);
    std::vector<int32_t> table(static_cast<size_t>(geometry.blocks_for(n)));
    std::iota(table.begin(), table.end(), 0);
    const SequenceSlice warm{tokens, 0, table, 0};
    // a range starting past layer 0 takes the residual stream in: zeros serve as well as tokens
    const std::vector<float> hidden(layer_begin > 0 ? static_cast<size_t>(n * config.n_embd) : 0, 0.0f);
    std::vector<float> logits;
    auto saved_profiler = std::move(profiler);
    try {
      forward_walk({&warm, 1}, hidden, logits);
    } catch (...) {
      profiler = std::move(saved_profiler);
      throw;
    }
    profiler = std::move(saved_profiler);
  }

  // forward_batch of a whole model (hidden_in empty), or Backend::forward_stage of a layer range:
  // the input rows are the tokens' embeddings (range starting at layer 0) or hidden_in's rows
  // [tokens of all sequences, n_embd]; the output is the logits (range ending at the last layer)
  // or the residual stream leaving the range, [tokens of all sequences, n_embd].
  void forward_walk(std::span<const SequenceSlice> seqs, std::span<const float> hidden_in, std::vector<float>& out) {
    // The engine thread may not be the thread that loaded the model: select the device here.
    check(cudaSetDevice(options.device), "cudaSetDevice");
    validate(seqs);
    const int64_t V = config.n_vocab, E = config.n_embd;
    int64_t total_logits = 0, total_tokens = 0;
    for (const auto& q : seqs) {
      total_logits += q.n_logits;
      total_tokens += static_cast<int64_t>(q.tokens.size());
    }
    const size_t hidden_expected = layer_begin > 0 ? static_cast<size_t>(total_tokens * E) : 0;
    if (hidden_in.size() != hidden_expected) {
      throw Error(fmt::format("CUDA backend (layers {} .. {}): {} input hidden values given, {} expected", layer_begin,
                              layer_begin + n_local - 1, hidden_in.size(), hidden_expected));
    }
    // Every row is written by its pass below: no zero fill (0.5 MB per token at a 128k vocabulary).
    out.resize(static_cast<size_t>(last_stage ? total_logits * V : total_tokens * E));

    int32_t* mh = meta_host.get<int32_t>();
    float* xh = x_host.get<float>();
    const auto& emb = host_weights.token_embd;
    // Walk all new tokens in order, packing them into passes of at most max_batch tokens; a
    // sequence may continue in the next pass (its earlier positions are in the pool by then).
    int64_t n = 0, n_seqs = 0, n_logit_rows = 0, max_len = 0, out_row = 0;
    int64_t token_row = 0;  // tokens of all sequences before the current one (hidden_in / out rows)
    bool decode = true, prompt_only = true;
    int64_t last_seq = -1;
    auto flush = [&] {
      if (n == 0) return;
      float* dst = last_stage ? out.data() + out_row * V : out.data() + (token_row - n) * E;
      run_pass(n, n_seqs, max_len, n_logit_rows, decode, prompt_only, dst);
      out_row += n_logit_rows;
      n = n_seqs = n_logit_rows = max_len = 0;
      decode = prompt_only = true;
      last_seq = -1;
    };
    for (size_t s = 0; s < seqs.size(); ++s) {
      const auto& q = seqs[s];
      const int64_t len = static_cast<int64_t>(q.tokens.size());
      for (int64_t i = 0; i < len; ++i) {
        if (n == max_batch) flush();
        if (last_seq != static_cast<int64_t>(s)) {
          if (len != 1 || q.n_logits != 1) decode = false;
          if (q.n_logits >= len) prompt_only = false;
          const int64_t blocks = geometry.blocks_for(q.n_past + len);
          std::copy_n(q.block_table.begin(), blocks, mh + meta_layout.tables() + n_seqs * meta_layout.max_blocks_per_seq);
          ++n_seqs;
          last_seq = static_cast<int64_t>(s);
        }
        const int64_t pos = q.n_past + i;
        mh[meta_layout.positions() + n] = static_cast<int32_t>(pos);
        mh[meta_layout.table_offsets() + n] = static_cast<int32_t>((n_seqs - 1) * meta_layout.max_blocks_per_seq);
        if (i >= len - q.n_logits) mh[meta_layout.logit_rows() + n_logit_rows++] = static_cast<int32_t>(n);
        max_len = std::max(max_len, pos + 1);
        if (layer_begin > 0) {
          std::memcpy(xh + n * E, hidden_in.data() + token_row * E, static_cast<size_t>(E) * sizeof(float));
        } else {
          const auto* row = static_cast<const uint8_t*>(emb.data) + static_cast<uint64_t>(q.tokens[i]) * emb.row_bytes;
          const auto st = kernels::cpu::dequantize_row(emb.type, row, xh + n * E, E);
          if (st != kernels::KernelStatus::kOk) {
            throw Error(fmt::format("token embedding: {}", kernels::to_string(st)));
          }
        }
        ++n;
        ++token_row;
      }
    }
    flush();
  }
};

// [host5] Backend::forward_batch_select on the device: one pass whose logits rows (at most
// kLogitRows) stay in device memory, reduced there to each row's best k_max entries
// (kernels/cuda/logit_select.h), copied back with the rows asked for whole. False (nothing run)
// when the batch does not fit that plan; the caller then takes the host path.
bool CudaBackend::select_on_device(std::span<const SequenceSlice> seqs, std::span<const int32_t> top_k,
                                   std::vector<float>& full, std::vector<LogitCandidate>& top) {
  Impl& d = *impl_;
  int64_t rows = 0, tokens = 0;
  for (const auto& q : seqs) {
    rows += q.n_logits;
    tokens += static_cast<int64_t>(q.tokens.size());
  }
  int32_t k_max = 0;
  for (int32_t k : top_k) k_max = std::max(k_max, k);
  if (!d.whole_model() || static_cast<int64_t>(top_k.size()) != rows || rows == 0 || rows > kLogitRows ||
      tokens > d.max_batch ||
      k_max < 1 || k_max > kcu::kLogitSelectMaxK || d.select_out.bytes() == 0) {
    return false;
  }
  const int64_t V = d.config.n_vocab;
  const size_t ws = kcu::logit_select_workspace_bytes(rows, V, k_max);
  if (ws == 0 || ws > d.select_workspace.bytes()) return false;
  d.defer_logits = true;
  try {
    d.forward_walk(seqs, {}, d.deferred_rows);
  } catch (...) {
    d.defer_logits = false;
    throw;
  }
  d.defer_logits = false;
  check(kcu::logit_select_top_k(d.logits.get<float>(), rows, V, k_max, d.select_workspace.get(), ws,
                                d.select_out.get<kcu::LogitCandidate>(), d.stream),
        "logit selection");
  check(cudaMemcpyAsync(d.select_host.get(), d.select_out.get(),
                        static_cast<size_t>(rows * k_max) * sizeof(kcu::LogitCandidate), cudaMemcpyDeviceToHost, d.stream),
        "logit selection copy");
  size_t n_full = 0, n_top = 0;
  for (int32_t k : top_k) {
    if (k == 0) {
      ++n_full;
    } else {
      n_top += static_cast<size_t>(k);
    }
  }
  // Whole rows, packed into the pinned logits buffer in order.
  for (int64_t r = 0, f = 0; r < rows; ++r) {
    if (top_k[static_cast<size_t>(r)] != 0) continue;
    check(cudaMemcpyAsync(d.logits_host.get<float>() + f * V, d.logits.get<float>() + r * V,
                          static_cast<size_t>(V) * sizeof(float), cudaMemcpyDeviceToHost, d.stream),
          "logits copy");
    ++f;
  }
  check(cudaStreamSynchronize(d.stream), "logit selection");
  full.resize(n_full * static_cast<size_t>(V));
  if (n_full > 0) std::memcpy(full.data(), d.logits_host.get(), full.size() * sizeof(float));
  top.resize(n_top);
  const auto* cand = d.select_host.get<kcu::LogitCandidate>();
  size_t t = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t k = top_k[static_cast<size_t>(r)];
    for (int32_t j = 0; j < k; ++j) top[t++] = LogitCandidate{cand[r * k_max + j].id, cand[r * k_max + j].logit};
  }
  return true;
}

void CudaBackend::forward_batch_select(std::span<const SequenceSlice> sequences, std::span<const int32_t> top_k,
                                       std::vector<float>& full, std::vector<LogitCandidate>& top) {
  if (!select_on_device(sequences, top_k, full, top)) Backend::forward_batch_select(sequences, top_k, full, top);
}

// [host5] NVML's total energy of the device (loaded on first use; nullopt without NVML).
std::optional<double> CudaBackend::energy_joules() const {
  if (!impl_->nvml) impl_->nvml = std::make_unique<NvmlDevice>(static_cast<unsigned>(impl_->options.device));
  return impl_->nvml->total_energy_joules();
}

CudaBackend::CudaBackend(const ModelConfig& config, const ModelWeights& weights, const CudaBackendOptions& options)
    : impl_(std::make_unique<Impl>(config, weights, options)) {
  impl_->init();
  impl_->warm_up_prefill();  // [pre4]
  impl_->precapture_decode_graphs();
}

CudaBackend::~CudaBackend() = default;

std::string CudaBackend::device_name() const { return impl_->name; }
int64_t CudaBackend::context_size() const { return impl_->n_ctx; }
int64_t CudaBackend::n_vocab() const { return impl_->config.n_vocab; }
KvGeometry CudaBackend::kv_geometry() const { return impl_->geometry; }
int64_t CudaBackend::kv_block_count() const { return impl_->n_blocks; }

void CudaBackend::forward_batch(std::span<const SequenceSlice> sequences, std::vector<float>& logits) {
  if (!impl_->whole_model()) {
    throw Error(fmt::format("this CUDA backend holds layers {} .. {} of {} only: run it through forward_stage",
                            impl_->layer_begin, impl_->layer_begin + impl_->n_local - 1, impl_->config.n_layer));
  }
  impl_->forward_walk(sequences, {}, logits);
}

void CudaBackend::forward_stage(std::span<const SequenceSlice> sequences, std::span<const float> hidden_in,
                                std::vector<float>& out) {
  impl_->forward_walk(sequences, hidden_in, out);
}

LayerRange CudaBackend::layer_range() const { return {impl_->layer_begin, impl_->layer_begin + impl_->n_local}; }

namespace {
void check_block(int32_t block, int64_t n_blocks) {
  if (block < 0 || block >= n_blocks) throw Error(fmt::format("KV block {} is outside the pool of {}", block, n_blocks));
}
}  // namespace

void CudaBackend::copy_kv_block(int32_t src, int32_t dst) {
  check_block(src, impl_->n_blocks);
  check_block(dst, impl_->n_blocks);
  if (src == dst) return;
  const size_t bytes = static_cast<size_t>(impl_->geometry.block_bytes());
  auto* pool = impl_->kv_pool.get<std::byte>();
  check(cudaMemcpyAsync(pool + dst * bytes, pool + src * bytes, bytes, cudaMemcpyDeviceToDevice, impl_->stream),
        "KV block copy");
  check(cudaStreamSynchronize(impl_->stream), "KV block copy");
}

void CudaBackend::read_kv_block(int32_t block, std::span<std::byte> bytes) const {
  check_block(block, impl_->n_blocks);
  const size_t n = static_cast<size_t>(impl_->geometry.block_bytes());
  if (bytes.size() != n) throw Error(fmt::format("read_kv_block: {} bytes given, a block is {}", bytes.size(), n));
  // The device block layout is the host layout (paged_kv.h): one copy.
  check(cudaMemcpyAsync(bytes.data(), impl_->kv_pool.get<std::byte>() + block * n, n, cudaMemcpyDeviceToHost,
                        impl_->stream),
        "KV block read");
  check(cudaStreamSynchronize(impl_->stream), "KV block read");
}

void CudaBackend::write_kv_block(int32_t block, std::span<const std::byte> bytes) {
  check_block(block, impl_->n_blocks);
  const size_t n = static_cast<size_t>(impl_->geometry.block_bytes());
  if (bytes.size() != n) throw Error(fmt::format("write_kv_block: {} bytes given, a block is {}", bytes.size(), n));
  check(cudaMemcpyAsync(impl_->kv_pool.get<std::byte>() + block * n, bytes.data(), n, cudaMemcpyHostToDevice,
                        impl_->stream),
        "KV block write");
  check(cudaStreamSynchronize(impl_->stream), "KV block write");
}

void CudaBackend::set_cuda_graphs(bool enabled) { impl_->graphs_enabled = enabled; }
uint64_t CudaBackend::device_bytes_allocated() const { return impl_->allocated; }
uint64_t CudaBackend::weight_bytes() const { return impl_->matrix_bytes; }
int64_t CudaBackend::graph_replays() const { return impl_->graph_replays; }
std::string CudaBackend::profile_report() const { return impl_->profiler ? impl_->profiler->report() : std::string(); }

}  // namespace hearth
