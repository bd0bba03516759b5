#pragma once
// Converting the weights of a GGUF model to another element type (`hearth-cli quantize`), and the
// per-tensor type plan that `quantize` and `synth` share. The plan follows llama.cpp's choices for
// its file types so our files look like the ones people download:
//   - 1-D tensors (norms, biases, rope_freqs) stay F32;
//   - the output projection (token_embd.weight when the output is tied) gets Q6_K in every
//     quantized type except Q8_0 (Q8_0 if its rows are not whole K-blocks);
//   - Q4_K_M: Q4_K everywhere, but Q6_K for attn_v.weight and ffn_down.weight on the layers where
//     use_more_bits() holds;
//   - a type whose block does not divide the row length falls back: Q4_K -> Q4_0 -> F16,
//     Q6_K -> Q8_0 -> F16, Q4_0 / Q8_0 -> F16.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/common/dtype.h"

namespace hearth::kernels::cpu {
class ThreadPool;
}
namespace hearth::gguf {
struct TensorInfo;
}

namespace hearth {

// What the user asks for: a llama.cpp "file type" (a mix of tensor types), not one tensor type.
enum class QuantTarget { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ6_K, kQ4_K_M };

// "f32", "f16", "bf16", "q8_0", "q4_0", "q6_k", "q4_k_m" (case-insensitive); nullopt otherwise.
std::optional<QuantTarget> parse_quant_target(std::string_view text);
std::string_view quant_target_name(QuantTarget target);
std::string_view quant_target_choices();  // "f32, f16, bf16, q8_0, q4_0, q6_k, q4_k_m" for messages
// general.file_type value (llama.cpp's LLAMA_FTYPE_*).
uint32_t llama_file_type(QuantTarget target);
bool is_quantized_target(QuantTarget target);  // anything but f32/f16/bf16

// llama.cpp's rule for which layers get more bits in the _M mixes (n_layer/8 etc. are integer
// divisions): the first and last eighth of the layers, and every third layer between.
bool use_more_bits(int64_t i_layer, int64_t n_layer);

// What the plan needs to know about the whole model.
struct PlanContext {
  int64_t n_layer = 0;      // number of blk.N layers
  bool has_output = false;  // output.weight exists (false: tied to token_embd.weight)
};
PlanContext plan_context_for(std::span<const gguf::TensorInfo> tensors);

// The type `name` with `dims` (dims[0] = row length) is stored as in a `target` file.
// `source_type` is kept for multi-dimensional tensors that are not weights (names not ending in
// "weight"), which llama.cpp never converts.
DType plan_tensor_type(QuantTarget target, std::string_view name, std::span<const uint64_t> dims,
                       DType source_type, const PlanContext& context);

// `wanted`, or the fallback chain above when its block size does not divide `row_length`.
DType fallback_for_row_length(DType wanted, uint64_t row_length);

// Fills dst with n_rows rows of `type`, each row_length elements: produce_row(row, out) writes
// the float32 values of one row into out[0..row_length). Rows are split over the pool's threads
// (produce_row must be thread-safe); errors in any thread are rethrown here. Memory: one row of
// floats per thread.
void encode_rows_parallel(kernels::cpu::ThreadPool& pool, DType type, uint64_t row_length, uint64_t n_rows,
                          uint8_t* dst, const std::function<void(uint64_t row, float* out)>& produce_row);

struct QuantizeSummary {
  size_t n_tensors = 0;
  size_t n_converted = 0;  // tensors whose type changed
  uint64_t input_bytes = 0;   // tensor data
  uint64_t output_bytes = 0;  // tensor data
  std::map<std::string, size_t> tensors_per_type;  // output type name -> count
};

// Log lines (progress, warnings) go to `log` when given.
using LogFn = std::function<void(const std::string& line)>;

// Reads `input`, writes `output` (through a temporary file) with every tensor converted per the
// plan and all metadata copied; general.file_type (and general.quantization_version for quantized
// targets) updated. Throws hearth::Error / FormatError.
QuantizeSummary quantize_model(const std::filesystem::path& input, const std::filesystem::path& output,
                               QuantTarget target, kernels::cpu::ThreadPool& pool, const LogFn& log = {});

}  // namespace hearth
