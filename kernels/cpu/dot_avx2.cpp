// The AVX2/FMA/F16C row dot kernels (see dot_avx2_impl.h).
#define HEARTH_AVX2_NAMESPACE avx2
#define HEARTH_AVX2_VNNI 0
#include "kernels/cpu/dot_avx2_impl.h"
#include "kernels/cpu/dot_interleaved_avx2_impl.h"
