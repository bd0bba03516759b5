#pragma once
// The two int8 activation forms of the quantized matvec (quant_matmul.h q8 input). Both use the
// same bytes layout -- qx int8 [m, cols], then dsx float2 [m, cols / 32] -- and match the CPU
// path's activation quantization (kernels/cpu/activation_quant.h) integer for integer, so a GPU
// product sees exactly the integers the CPU's dot kernels see:
//   kBlock32 (Q8_0, for Q4_0 / Q8_0 weights): per 32 values d = max|x| / 127, q = round half away
//     (x * (1 / d)); dsx = (d rounded to fp16, as float; the int sum of the 32 q as int bits).
//   kSuper256 (Q8_K, for Q4_K / Q5_K / Q6_K weights): per 256 values, v = the value of largest
//     magnitude (first on ties), s = -127 / v, q = min(127, round half even (s * x)), d = 1 / s;
//     dsx of each of the 8 sub-blocks of 32 = (d, the int sum of its 32 q as int bits).
// Plain C++ (no CUDA syntax): included by host code.
#include <cstdint>

#include "kernels/common/dtype.h"

namespace hearth::kernels::cuda {

enum class Q8Form : uint8_t { kBlock32, kSuper256 };

// The activation form a quantized weight type's integer products read.
constexpr Q8Form q8_form(DType t) {
  return (t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K) ? Q8Form::kSuper256 : Q8Form::kBlock32;
}

}  // namespace hearth::kernels::cuda
