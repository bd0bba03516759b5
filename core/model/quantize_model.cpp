#include "core/model/quantize_model.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <exception>
#include <mutex>
#include <vector>

#include "core/common/error.h"
#include "core/gguf/gguf_file.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/thread_pool.h"

namespace hearth {

namespace {

struct TargetRow {
  QuantTarget target;
  std::string_view name;
  uint32_t file_type;  // LLAMA_FTYPE_*
};

constexpr TargetRow kTargets[] = {
    {QuantTarget::kF32, "f32", 0},     {QuantTarget::kF16, "f16", 1},   {QuantTarget::kBF16, "bf16", 32},
    {QuantTarget::kQ8_0, "q8_0", 7},   {QuantTarget::kQ4_0, "q4_0", 2}, {QuantTarget::kQ6_K, "q6_k", 18},
    {QuantTarget::kQ4_K_M, "q4_k_m", 15},
};

const TargetRow& row_of(QuantTarget t) {
  for (const auto& r : kTargets) {
    if (r.target == t) return r;
  }
  throw Error("unknown quantization target");
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// "blk.12.ffn_down.weight" -> 12; nullopt for tensors outside the layers.
std::optional<int64_t> layer_of(std::string_view name) {
  constexpr std::string_view kPrefix = "blk.";
  if (name.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  const char* begin = name.data() + kPrefix.size();
  const char* end = name.data() + name.size();
  int64_t layer = 0;
  const auto [ptr, ec] = std::from_chars(begin, end, layer);
  if (ec != std::errc() || ptr == begin || ptr == end || *ptr != '.') return std::nullopt;
  return layer;
}

// The base (non-_M) tensor type of a target.
DType base_type(QuantTarget t) {
  switch (t) {
    case QuantTarget::kF32: return DType::F32;
    case QuantTarget::kF16: return DType::F16;
    case QuantTarget::kBF16: return DType::BF16;
    case QuantTarget::kQ8_0: return DType::Q8_0;
    case QuantTarget::kQ4_0: return DType::Q4_0;
    case QuantTarget::kQ6_K: return DType::Q6_K;
    case QuantTarget::kQ4_K_M: return DType::Q4_K;
  }
  return DType::F32;
}

// Writes one row of `type` from floats. Float types are converted here; the rest by the kernel
// quantizer (which searches for the scales with the least error).
void encode_row(DType type, const float* src, uint8_t* dst, uint64_t n) {
  switch (type) {
    case DType::F32:
      std::memcpy(dst, src, n * sizeof(float));
      return;
    case DType::F16:
    case DType::BF16: {
      for (uint64_t i = 0; i < n; ++i) {
        const uint16_t h = type == DType::F16 ? kernels::cpu::fp32_to_fp16(src[i]) : kernels::cpu::fp32_to_bf16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    }
    default: {
      const auto status = kernels::cpu::quantize_row(type, src, dst, static_cast<int64_t>(n));
      if (status != kernels::KernelStatus::kOk) {
        throw Error("quantizing a row to " + std::string(dtype_name(type)) + ": " + kernels::to_string(status));
      }
    }
  }
}

}  // namespace

std::optional<QuantTarget> parse_quant_target(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const auto& r : kTargets) {
    if (r.name == lower) return r.target;
  }
  return std::nullopt;
}

std::string_view quant_target_name(QuantTarget target) { return row_of(target).name; }
std::string_view quant_target_choices() { return "f32, f16, bf16, q8_0, q4_0, q6_k, q4_k_m"; }
uint32_t llama_file_type(QuantTarget target) { return row_of(target).file_type; }

bool is_quantized_target(QuantTarget target) {
  return target != QuantTarget::kF32 && target != QuantTarget::kF16 && target != QuantTarget::kBF16;
}

bool use_more_bits(int64_t i_layer, int64_t n_layer) {
  return i_layer < n_layer / 8 || i_layer >= 7 * n_layer / 8 || (i_layer - n_layer / 8) % 3 == 2;
}

PlanContext plan_context_for(std::span<const gguf::TensorInfo> tensors) {
  PlanContext c;
  for (const auto& t : tensors) {
    if (t.name == "output.weight") c.has_output = true;
    if (const auto layer = layer_of(t.name); layer && *layer >= c.n_layer) c.n_layer = *layer + 1;
  }
  return c;
}

DType fallback_for_row_length(DType wanted, uint64_t row_length) {
  DType t = wanted;
  while (row_length % traits(t).block_elements != 0) {
    switch (t) {
      case DType::Q4_K: t = DType::Q4_0; break;
      case DType::Q5_K: t = DType::Q8_0; break;
      case DType::Q6_K: t = DType::Q8_0; break;
      default: t = DType::F16; break;  // Q4_0, Q8_0 (F16 has one-element blocks: always fits)
    }
  }
  return t;
}

DType plan_tensor_type(QuantTarget target, std::string_view name, std::span<const uint64_t> dims,
                       DType source_type, const PlanContext& context) {
  if (dims.size() < 2 || name == "rope_freqs.weight") return DType::F32;
  if (target == QuantTarget::kF32) return DType::F32;
  // llama.cpp converts only weights; a multi-dimensional non-weight keeps what it had.
  if (!ends_with(name, "weight")) return source_type;

  DType wanted = base_type(target);
  const uint64_t row_length = dims[0];
  const bool is_output = name == "output.weight" || (!context.has_output && name == "token_embd.weight");
  if (is_output && is_quantized_target(target) && wanted != DType::Q8_0) {
    // The logits projection is the most sensitive matrix: Q6_K, or Q8_0 when rows do not fit K-blocks.
    return row_length % traits(DType::Q6_K).block_elements == 0 ? DType::Q6_K
                                                                : fallback_for_row_length(DType::Q8_0, row_length);
  }
  if (target == QuantTarget::kQ4_K_M) {
    const auto layer = layer_of(name);
    const bool more_bits_tensor = ends_with(name, ".attn_v.weight") || ends_with(name, ".ffn_down.weight");
    if (layer && more_bits_tensor && use_more_bits(*layer, context.n_layer)) wanted = DType::Q6_K;
  }
  return fallback_for_row_length(wanted, row_length);
}

void encode_rows_parallel(kernels::cpu::ThreadPool& pool, DType type, uint64_t row_length, uint64_t n_rows,
                          uint8_t* dst, const std::function<void(uint64_t row, float* out)>& produce_row) {
  const auto row_size = row_bytes(type, row_length);
  if (!row_size) {
    throw Error("rows of " + std::to_string(row_length) + " elements are not whole " +
                std::string(dtype_name(type)) + " blocks");
  }
  std::mutex error_mutex;
  std::exception_ptr first_error;
  pool.parallel_for(static_cast<int64_t>(n_rows), [&](int64_t begin, int64_t end, int) {
    try {
      std::vector<float> row(row_length);
      for (int64_t r = begin; r < end; ++r) {
        {
          // Stop early once another thread failed.
          std::lock_guard lock(error_mutex);
          if (first_error) return;
        }
        produce_row(static_cast<uint64_t>(r), row.data());
        encode_row(type, row.data(), dst + static_cast<uint64_t>(r) * *row_size, row_length);
      }
    } catch (...) {
      std::lock_guard lock(error_mutex);
      if (!first_error) first_error = std::current_exception();
    }
  });
  if (first_error) std::rethrow_exception(first_error);
}

QuantizeSummary quantize_model(const std::filesystem::path& input, const std::filesystem::path& output,
                               QuantTarget target, kernels::cpu::ThreadPool& pool, const LogFn& log) {
  std::error_code ec;
  if (std::filesystem::exists(output, ec) && std::filesystem::equivalent(input, output, ec)) {
    throw Error("quantize: the output file must differ from the input file (" + output.string() + ")");
  }
  const auto in = gguf::GgufFile::open(input);
  const auto context = plan_context_for(in.tensors());

  gguf::GgufWriter writer(in.alignment());
  for (const auto& [key, value] : in.metadata()) {
    // The writer adds general.alignment itself (when it is not the default of 32).
    if (key != "general.alignment") writer.set(key, value);
  }
  writer.set("general.file_type", gguf::Value(llama_file_type(target)));
  if (is_quantized_target(target)) writer.set("general.quantization_version", gguf::Value(uint32_t{2}));

  QuantizeSummary summary;
  summary.n_tensors = in.tensors().size();
  bool warned_requantize = false;
  const size_t n_total = in.tensors().size();
  for (size_t index = 0; index < n_total; ++index) {
    const auto& t = in.tensors()[index];
    const DType new_type = plan_tensor_type(target, t.name, t.dims, t.type, context);
    const auto new_row = row_bytes(new_type, t.dims[0]);
    if (!new_row) throw Error("tensor '" + t.name + "': no row layout for " + std::string(dtype_name(new_type)));
    summary.input_bytes += t.n_bytes;
    summary.output_bytes += *new_row * t.n_rows();
    ++summary.tensors_per_type[std::string(dtype_name(new_type))];

    const std::span<const uint8_t> src = in.tensor_data(t);
    const gguf::TensorInfo* info = &t;
    const std::string progress = "[" + std::to_string(index + 1) + "/" + std::to_string(n_total) + "] " + t.name +
                                 " " + std::string(dtype_name(t.type)) + " -> " + std::string(dtype_name(new_type));
    if (new_type == t.type) {
      writer.add_tensor(t.name, t.type, t.dims, [src, progress, &log](uint8_t* dst) {
        if (log) log(progress + " (copied)");
        std::copy(src.begin(), src.end(), dst);
      });
      continue;
    }
    ++summary.n_converted;
    const bool source_quantized = t.type != DType::F32 && t.type != DType::F16 && t.type != DType::BF16;
    if (source_quantized && !warned_requantize && log) {
      log("warning: '" + t.name + "' is stored as " + std::string(dtype_name(t.type)) +
          "; it is dequantized to f32 and quantized again, which loses more precision than quantizing the "
          "original weights");
      warned_requantize = true;
    }
    writer.add_tensor(t.name, new_type, t.dims, [&pool, src, info, new_type, progress, &log](uint8_t* dst) {
      if (log) log(progress);
      const uint64_t row_length = info->dims[0];
      const uint64_t src_row = *row_bytes(info->type, row_length);  // valid: the reader checked the layout
      encode_rows_parallel(pool, new_type, row_length, info->n_rows(), dst, [&](uint64_t r, float* out) {
        const auto status = kernels::cpu::dequantize_row(info->type, src.data() + r * src_row, out,
                                                          static_cast<int64_t>(row_length));
        if (status != kernels::KernelStatus::kOk) {
          throw Error("tensor '" + info->name + "': cannot read " + std::string(dtype_name(info->type)) + " rows: " +
                      kernels::to_string(status));
        }
      });
    });
  }
  writer.write(output);
  return summary;
}

}  // namespace hearth
