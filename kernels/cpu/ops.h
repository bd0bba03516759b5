#pragma once
// Element-wise and row-wise float32 operations of the transformer block (CPU).
#include <cstdint>

namespace hearth::kernels::cpu {

// y[i] = x[i] / sqrt(mean(x^2) + eps) * w[i], for one row of n (x and y may alias).
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps);

// Rotates the first rope_dims elements of each of n_heads heads of one token in place.
// cos_sin: [rope_dims / 2][2] (cos, sin) of the angles for this token's position.
// halves == false: pairs (x[2i], x[2i+1]) (llama); true: pairs (x[i], x[i + rope_dims/2]) (neox/qwen).
void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t rope_dims, const float* cos_sin, bool halves);

// a[i] = silu(a[i]) * b[i] (SwiGLU), silu(x) = x / (1 + exp(-x)).
void silu_mul(float* a, const float* b, int64_t n);

// y[i] += x[i]
void add_inplace(float* y, const float* x, int64_t n);

}  // namespace hearth::kernels::cpu
