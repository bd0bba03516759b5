// hearth-cuda-kernel-bench: the device's copy bandwidth, then the decode matvec's time per launch
// and percent of the copy bandwidth (weight bytes / time) for each weight type on the matrices of
// llama-3.1-8b and llama-3.2-1b (stacked q|k|v and gate|up as the backend stores them) at
// m = 1, 2, 4, 8, 16, 32, 64 activation rows; then quant_gemm (prefill, m = 512) TFLOP/s.
// Not a test: it prints numbers (bench/RESULTS.md records them).
//   hearth-cuda-kernel-bench [--types q4_0,q4_K,...] [--models 8b,1b] [--matrix NAME] [--m-max N]
//                            [--no-gemm] [--quick] [--tune]
// --matrix / --m-max: only that matrix (e.g. ffn_down) / m up to N (for ncu runs).
// The quantized types are timed as decode runs them: quant_matvec_q8_input over activations
// already in the int8 form (the norm / SwiGLU kernels write it), no quantization launch.
// --tune also times each k_split (1, 2, 4, 8) of the tensor-core kernel at m = 1 and 16.
// Each timing is the median of 7 replays of a CUDA graph of >= 40 back-to-back launches,
// rotating over enough copies of the matrix (>= 256 MiB in all) that the 50 MB L2 cannot hold
// them, as in decode, where each matrix is read once per step.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "kernels/common/dtype.h"
#include "kernels/cuda/memory_bandwidth.h"
#include "kernels/cuda/quant_matmul.h"
#include "kernels/cuda/quant_matvec_launch.h"

using hearth::DType;
namespace kc = hearth::kernels::cuda;

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "error: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

// Random words with bit 14 of every 16-bit half cleared: every F16/BF16/F32 value and every
// block scale is finite and below 2 in magnitude; quant levels stay random.
__global__ void fill_random(uint32_t* p, size_t n, uint64_t seed) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) {
    uint64_t z = (i + seed) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    p[i] = static_cast<uint32_t>(z ^ (z >> 31)) & 0xBFFFBFFFu;
  }
}
// Activations: floats in [-1, 1).
__global__ void fill_activations(float* p, size_t n, uint64_t seed) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) {
    uint64_t z = (i + seed) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ull;
    p[i] = static_cast<float>(static_cast<int32_t>(z >> 32)) * (1.0f / 2147483648.0f);
  }
}

struct Shape {
  const char* model;
  const char* name;
  int64_t rows, cols;
};

const Shape kShapes[] = {
    {"8b", "attn_output", 4096, 4096},  {"8b", "attn_qkv", 6144, 4096},   {"8b", "ffn_gate_up", 28672, 4096},
    {"8b", "ffn_down", 4096, 14336},    {"8b", "output", 128256, 4096},   {"1b", "attn_output", 2048, 2048},
    {"1b", "attn_qkv", 3072, 2048},     {"1b", "ffn_gate_up", 16384, 2048}, {"1b", "ffn_down", 2048, 8192},
    {"1b", "output", 128256, 2048},
};

struct Matrices {
  std::vector<void*> copies;
  size_t bytes = 0;
  ~Matrices() {
    for (void* p : copies) cudaFree(p);
  }
};

double graph_median_ms(cudaStream_t s, int launches, const std::vector<std::function<cudaError_t()>>& calls) {
  (void)launches;
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "begin capture");
  for (const auto& c : calls) check(c(), "kernel launch in capture");
  check(cudaStreamEndCapture(s, &graph), "end capture");
  check(cudaGraphInstantiate(&exec, graph, 0), "graph instantiate");
  cudaEvent_t a, b;
  check(cudaEventCreate(&a), "event");
  check(cudaEventCreate(&b), "event");
  std::vector<float> t;
  for (int i = -2; i < 7; ++i) {
    check(cudaEventRecord(a, s), "record");
    check(cudaGraphLaunch(exec, s), "graph launch");
    check(cudaEventRecord(b, s), "record");
    check(cudaEventSynchronize(b), "sync");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, a, b), "elapsed");
    if (i >= 0) t.push_back(ms);
  }
  std::sort(t.begin(), t.end());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<DType> types = {DType::Q4_K, DType::Q6_K, DType::Q4_0, DType::Q5_K, DType::Q8_0, DType::F16};
  bool gemm = true, quick = false, tune = false;
  std::string models = "8b,1b", matrix;
  int64_t m_max = 64;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--no-gemm") {
      gemm = false;
    } else if (a == "--quick") {
      quick = true;
    } else if (a == "--tune") {
      tune = true;
    } else if (a == "--models" && i + 1 < argc) {
      models = argv[++i];
    } else if (a == "--matrix" && i + 1 < argc) {
      matrix = argv[++i];
    } else if (a == "--m-max" && i + 1 < argc) {
      m_max = std::atoll(argv[++i]);
    } else if (a == "--types" && i + 1 < argc) {
      types.clear();
      std::string list = argv[++i];
      size_t pos = 0;
      while (pos <= list.size()) {
        const size_t end = std::min(list.find(',', pos), list.size());
        const std::string name = list.substr(pos, end - pos);
        bool found = false;
        for (const auto& t : hearth::kDTypeTable) {
          if (t.name == name) { types.push_back(t.type); found = true; }
        }
        if (!found) { std::fprintf(stderr, "unknown type %s\n", name.c_str()); return 2; }
        pos = end + 1;
      }
    } else {
      std::fprintf(stderr, "usage: %s [--types q4_0,q4_K,...] [--models 8b,1b] [--matrix NAME] [--m-max N] [--no-gemm] [--quick] "
                   "[--tune]\n", argv[0]);
      return 2;
    }
  }
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "device properties");
  std::printf("device: %s, %d SMs, L2 %d MB, %.1f GiB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20,
              prop.totalGlobalMem / double(1ull << 30));
  cudaStream_t s;
  check(cudaStreamCreate(&s), "stream");
  kc::DeviceBandwidth bw;
  check(kc::measure_device_bandwidth(size_t{1} << 30, quick ? 5 : 20, s, &bw), "bandwidth");
  std::printf("copy bandwidth (1 GiB, read+write): cudaMemcpy D2D %.0f GB/s, copy kernel %.0f GB/s; read-only kernel %.0f GB/s\n",
              bw.memcpy_gbps, bw.copy_kernel_gbps, bw.read_kernel_gbps);
  const double ref = bw.memcpy_gbps;

  const int64_t ms_list[] = {1, 2, 4, 8, 16, 32, 64};
  constexpr int64_t kMaxM = 64, kMaxCols = 14336, kMaxRows = 128256;
  float* x = nullptr;
  float* y = nullptr;
  check(cudaMalloc(&x, kMaxM * kMaxCols * sizeof(float)), "x");
  check(cudaMalloc(&y, kMaxM * kMaxRows * sizeof(float)), "y");
  void* q8 = nullptr;  // the int8 activations, written once per shape and type
  check(cudaMalloc(&q8, kc::q8_input_bytes(kMaxM, kMaxCols)), "q8 input");
  void* ws = nullptr;  // quant_matvec's workspace (float types need none)
  check(cudaMalloc(&ws, kc::q8_input_bytes(kMaxM, kMaxCols)), "workspace");
  std::string tune_log;
  fill_activations<<<1024, 256, 0, s>>>(x, kMaxM * kMaxCols, 7);
  check(cudaGetLastError(), "fill x");

  std::printf("\n%-5s %-3s %-11s %6s %5s | per m: time per launch (us), %% of memcpy bandwidth; last: t(m=16)/t(1), t(64)/t(1)\n",
              "type", "mdl", "matrix", "rows", "cols");
  for (DType t : types) {
    for (const Shape& sh : kShapes) {
      if (quick && sh.rows == 128256) continue;
      if (models.find(sh.model) == std::string::npos) continue;
      if (!matrix.empty() && matrix != sh.name) continue;
      const size_t bytes = *hearth::row_bytes(t, sh.cols) * sh.rows;
      Matrices mats;
      mats.bytes = bytes;
      const size_t n_copies = std::max<size_t>(1, std::min<size_t>(64, ((size_t{256} << 20) + bytes - 1) / bytes));
      for (size_t c = 0; c < n_copies; ++c) {
        void* p = nullptr;
        check(cudaMalloc(&p, bytes), "weights");
        mats.copies.push_back(p);
        fill_random<<<2048, 256, 0, s>>>(static_cast<uint32_t*>(p), bytes / 4, 1000 + c);
        check(cudaGetLastError(), "fill w");
      }
      const kc::QuantWeights w0{t, mats.copies[0], sh.rows, sh.cols, false};
      const bool integer = kc::takes_q8_input(w0);
      if (integer) check(kc::quantize_q8_input(x, kMaxM, sh.cols, q8, kc::q8_form(t), s), "quantize x");
      std::printf("%-5s %-3s %-11s %6lld %5lld |", std::string(hearth::dtype_name(t)).c_str(), sh.model, sh.name,
                  static_cast<long long>(sh.rows), static_cast<long long>(sh.cols));
      double t1 = 0, t16 = 0, t64 = 0;
      for (int64_t m : ms_list) {
        if (m > m_max) break;
        const int launches = static_cast<int>(std::max<size_t>(40, n_copies));
        std::vector<std::function<cudaError_t()>> calls;
        for (int i = 0; i < launches; ++i) {
          const kc::QuantWeights w{t, mats.copies[i % n_copies], sh.rows, sh.cols, false};
          if (integer) {
            calls.push_back([w, q8, m, y, s] { return kc::quant_matvec_q8_input(w, q8, m, y, s); });
          } else {
            calls.push_back([w, x, m, y, ws, s] { return kc::quant_matvec(w, x, m, y, ws, s); });
          }
        }
        const double ms = graph_median_ms(s, launches, calls) / launches;
        if (m == 1) t1 = ms;
        if (m == 16) t16 = ms;
        if (m == 64) t64 = ms;
        if (tune && integer && (m == 1 || m == 16)) {
          char line[256];
          std::snprintf(line, sizeof line, "%-5s %-3s %-11s m%-2lld default %7.1f us | k_split:",
                        std::string(hearth::dtype_name(t)).c_str(), sh.model, sh.name, static_cast<long long>(m),
                        ms * 1e3);
          tune_log += line;
          for (int ks : {1, 2, 4, 8}) {
            std::vector<std::function<cudaError_t()>> tuned;
            for (int i = 0; i < launches; ++i) {
              const kc::QuantWeights w{t, mats.copies[i % n_copies], sh.rows, sh.cols, false};
              tuned.push_back([w, x, m, y, ws, s, ks] { return kc::detail::quant_matvec_tuned(w, x, m, y, ws, ks, s); });
            }
            std::snprintf(line, sizeof line, " %d:%7.1f", ks, graph_median_ms(s, launches, tuned) / launches * 1e3);
            tune_log += line;
          }
          tune_log += "  (includes the quantization launch)\n";
        }
        const double gbps = bytes / (ms * 1e6);
        std::printf(" %6.1f %3.0f%% |", ms * 1e3, 100.0 * gbps / ref);
      }
      std::printf(" %4.2f %4.2f\n", t16 / t1, t64 / t1);
      std::fflush(stdout);
    }
  }

  if (!tune_log.empty()) std::printf("\nk_split (us per launch):\n%s", tune_log.c_str());

  if (gemm) {
    cublasHandle_t h;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) { std::fprintf(stderr, "cublasCreate failed\n"); return 1; }
    const int64_t m = 512;
    float *xg = nullptr, *yg = nullptr;
    check(cudaMalloc(&xg, m * 14336 * sizeof(float)), "x gemm");
    check(cudaMalloc(&yg, m * 28672 * sizeof(float)), "y gemm");
    fill_activations<<<1024, 256, 0, s>>>(xg, m * 14336, 9);
    std::printf("\nquant_gemm, m = %lld (prefill): time us, TFLOP/s\n", static_cast<long long>(m));
    for (DType t : types) {
      for (const Shape& sh : kShapes) {
        if (std::string(sh.model) != "8b" || sh.rows == 128256) continue;
        const size_t bytes = *hearth::row_bytes(t, sh.cols) * sh.rows;
        void* wdev = nullptr;
        check(cudaMalloc(&wdev, bytes), "weights");
        fill_random<<<2048, 256, 0, s>>>(static_cast<uint32_t*>(wdev), bytes / 4, 77);
        const kc::QuantWeights w{t, wdev, sh.rows, sh.cols, false};
        void* ws = nullptr;
        const size_t wsb = kc::gemm_workspace_bytes(w, m);
        if (wsb) check(cudaMalloc(&ws, wsb), "workspace");
        std::vector<std::function<cudaError_t()>> calls;
        for (int i = 0; i < 10; ++i) calls.push_back([=] { return kc::quant_gemm(w, xg, m, yg, ws, h, s); });
        const double ms = graph_median_ms(s, 10, calls) / 10;
        std::printf("%-5s 8b %-12s %6lld x %-6lld %8.1f us %6.1f TFLOP/s\n", std::string(hearth::dtype_name(t)).c_str(),
                    sh.name, static_cast<long long>(sh.rows), static_cast<long long>(sh.cols), ms * 1e3,
                    2.0 * sh.rows * sh.cols * m / (ms * 1e9));
        cudaFree(ws);
        cudaFree(wdev);
      }
    }
    cublasDestroy(h);
  }
  check(cudaStreamSynchronize(s), "final sync");
  std::printf("\nreference: cudaMemcpy D2D %.0f GB/s (read+write)\n", ref);
  return 0;
}
