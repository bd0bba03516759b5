#pragma once
// Element types of weight tensors, numbered as in the GGUF file format (ggml type ids), with the
// block geometry every kernel and the loader agree on. Header-only: used by kernels/ and core/.
#include <cstdint>
#include <optional>
#include <string_view>

namespace hearth {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q8_0 = 8,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,  // activations only (dot products against K-quants); never stored in a model
  BF16 = 30,
};

struct DTypeTraits {
  DType type;
  std::string_view name;     // as llama.cpp prints it: "q4_K"
  uint32_t block_elements;   // elements per block
  uint32_t block_bytes;      // bytes per block
};

inline constexpr DTypeTraits kDTypeTable[] = {
    {DType::F32, "f32", 1, 4},       {DType::F16, "f16", 1, 2},       {DType::BF16, "bf16", 1, 2},
    {DType::Q4_0, "q4_0", 32, 18},   {DType::Q8_0, "q8_0", 32, 34},   {DType::Q4_K, "q4_K", 256, 144},
    {DType::Q5_K, "q5_K", 256, 176}, {DType::Q6_K, "q6_K", 256, 210}, {DType::Q8_K, "q8_K", 256, 292},
};

// Traits of a supported type, or nullopt for an id we cannot compute with.
constexpr std::optional<DTypeTraits> dtype_traits(uint32_t id) {
  for (const auto& t : kDTypeTable) {
    if (static_cast<uint32_t>(t.type) == id) return t;
  }
  return std::nullopt;
}
constexpr DTypeTraits traits(DType t) { return *dtype_traits(static_cast<uint32_t>(t)); }
constexpr std::string_view dtype_name(DType t) { return traits(t).name; }

// Name of any ggml type id, including those Hearth does not support, for error messages.
constexpr std::string_view ggml_type_name(uint32_t id) {
  constexpr std::string_view names[] = {
      "f32",     "f16",    "q4_0",    "q4_1",   "q4_2",  "q4_3",  "q5_0",  "q5_1", "q8_0", "q8_1", "q2_K",
      "q3_K",    "q4_K",   "q5_K",    "q6_K",   "q8_K",  "iq2_xxs", "iq2_xs", "iq3_xxs", "iq1_s", "iq4_nl",
      "iq3_s",   "iq2_s",  "iq4_xs",  "i8",     "i16",   "i32",   "i64",   "f64",  "iq1_m", "bf16"};
  return id < std::size(names) ? names[id] : std::string_view("unknown");
}

// Bytes of a row of `n` elements; nullopt if n is not a whole number of blocks or the byte
// count does not fit in 64 bits (n may come from an untrusted file).
constexpr std::optional<uint64_t> row_bytes(DType t, uint64_t n) {
  const auto tr = traits(t);
  if (n % tr.block_elements != 0) return std::nullopt;
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(n / tr.block_elements, uint64_t{tr.block_bytes}, &bytes)) return std::nullopt;
  return bytes;
}

}  // namespace hearth
