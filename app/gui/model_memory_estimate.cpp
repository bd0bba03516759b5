#include "app/gui/model_memory_estimate.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <optional>

#include "app/gui/model_summary.h"
#include "core/backend/cuda_buffer_estimate.h"
#include "core/backend/gpu_layer_fit.h"
#include "core/backend/cuda/cuda_entry.h"
#include "core/backend/cuda/cuda_probe.h"
#include "core/backend/cuda/nvml_device.h"
#include "core/gguf/gguf_file.h"
#include "core/model/model_info.h"

namespace hearth {
namespace {

// The CUDA backend's defaults (cuda_backend.h: CudaBackendOptions).
constexpr double kBlockTokens = 16;
constexpr double kMaxBatch = 512;
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

QString gib(double bytes) { return QString::number(bytes / kGiB, 'f', 2) + QStringLiteral(" GiB"); }

// Stored bytes of each block's tensors ("blk.<i>.<name>"), [n_layer]; other names are not layers.
// Empty for a layer count no real model has (the metadata is untrusted).
std::vector<double> layer_tensor_bytes(const gguf::GgufFile& file, int64_t n_layer) {
  if (n_layer <= 0 || n_layer > 65536) return {};
  std::vector<double> bytes(static_cast<size_t>(n_layer), 0.0);
  for (const auto& t : file.tensors()) {
    if (t.name.rfind("blk.", 0) != 0) continue;
    const size_t dot = t.name.find('.', 4);
    if (dot == std::string::npos || dot == 4 || dot - 4 > 9) continue;
    int64_t layer = 0;
    bool digits = true;
    for (size_t i = 4; i < dot; ++i) {
      if (t.name[i] < '0' || t.name[i] > '9') digits = false;
      layer = layer * 10 + (t.name[i] - '0');
    }
    if (digits && layer < n_layer) bytes[static_cast<size_t>(layer)] += static_cast<double>(t.n_bytes);
  }
  return bytes;
}

}  // namespace

ModelMemoryEstimate estimate_model_memory(const ModelInfo& info, int64_t context_size) {
  const ModelShapes& s = info.shapes;
  ModelMemoryEstimate e;
  e.context = context_size > 0 ? context_size : std::min<int64_t>(s.n_ctx_train > 0 ? s.n_ctx_train : 4096, 4096);
  const double ctx = static_cast<double>(e.context);
  const double layers = static_cast<double>(std::max<int64_t>(s.n_layer, 0));
  const double head_dim = static_cast<double>(std::max<int64_t>(s.head_dim, 0));
  const double n_embd = static_cast<double>(std::max<int64_t>(s.n_embd, 0));
  const double n_ff = static_cast<double>(std::max<int64_t>(s.n_ff, 0));
  const double n_vocab = static_cast<double>(std::max<int64_t>(s.n_vocab, 0));
  const double q_dim = static_cast<double>(std::max<int64_t>(s.n_head, 0)) * head_dim;
  const double kv_dim = static_cast<double>(std::max<int64_t>(s.n_head_kv, 0)) * head_dim;

  e.weights = static_cast<double>(info.tensor_bytes);
  // K and V, F16, for every layer, in whole 16-token blocks.
  const double blocks = std::ceil(ctx / kBlockTokens);
  e.kv_cache = blocks * kBlockTokens * 2 * layers * kv_dim * 2;
  CudaBufferShape b;
  b.n_embd = n_embd;
  b.q_dim = q_dim;
  b.kv_dim = kv_dim;
  b.n_ff = n_ff;
  b.n_vocab = n_vocab;
  b.context = ctx;
  b.rope_dims = head_dim;  // the file's metadata does not say; every supported model rotates whole heads
  b.max_batch = kMaxBatch;
  e.buffers = cuda_buffer_bytes(b);
  return e;
}

int64_t gpu_layers_fitting(const ModelMemoryEstimate& e, const std::vector<double>& layer_bytes, double free_bytes) {
  const auto n_layer = static_cast<int64_t>(layer_bytes.size());
  const double kv_per_layer = n_layer > 0 ? e.kv_cache / static_cast<double>(n_layer) : 0.0;
  // need[n]: the first n layers with their KV share and the buffers; the whole model with the
  // output head at n_layer (the factory's rule, gpu_layer_fit.h).
  std::vector<double> need(static_cast<size_t>(n_layer) + 1, e.buffers);
  for (int64_t i = 0; i < n_layer; ++i) {
    need[static_cast<size_t>(i) + 1] = need[static_cast<size_t>(i)] + layer_bytes[static_cast<size_t>(i)] + kv_per_layer;
  }
  if (n_layer > 0) need.back() = e.total();
  // Doubles from an untrusted file, as bytes: anything past 2^64 does not fit anywhere.
  auto bytes = [](double v) { return v < 1.8e19 ? static_cast<uint64_t>(v) : UINT64_MAX; };
  return gpu_layers_that_fit(n_layer, bytes(free_bytes),
                             [&](int64_t n) { return bytes(need[static_cast<size_t>(n)]); })
      .value_or(0);
}

QVariantMap inspect_model_file(const QString& path, int64_t context_size) {
  QVariantMap out = read_model_summary(path);
  if (out.contains(QStringLiteral("error"))) return out;
  out[QStringLiteral("path")] = path;
  try {
    const auto file = gguf::GgufFile::open(path.toStdString());
    const ModelInfo info = read_model_info(file);
    const ModelMemoryEstimate e = estimate_model_memory(info, context_size);
    const int64_t n_layer = std::max<int64_t>(info.shapes.n_layer, 0);
    QVariantMap m;
    m[QStringLiteral("layers")] = static_cast<qint64>(n_layer);
    m[QStringLiteral("context")] = static_cast<qint64>(e.context);
    m[QStringLiteral("weights")] = e.weights;
    m[QStringLiteral("kvCache")] = e.kv_cache;
    m[QStringLiteral("buffers")] = e.buffers;
    m[QStringLiteral("total")] = e.total();
    const std::string gpu = nvidia_gpu_name_without_cuda();
    std::optional<NvmlDevice::Memory> vram;
    if (!gpu.empty()) vram = NvmlDevice(0).memory();
    m[QStringLiteral("gpu")] = QString::fromStdString(gpu);
    m[QStringLiteral("freeVram")] = vram ? static_cast<double>(vram->free) : -1.0;
    m[QStringLiteral("totalVram")] = vram ? static_cast<double>(vram->total) : -1.0;
    const QString need = QObject::tr("about %1 (weights %2 + KV cache %3 for %4 tokens + buffers %5)")
                             .arg(gib(e.total()), gib(e.weights), gib(e.kv_cache))
                             .arg(e.context)
                             .arg(gib(e.buffers));
    QString verdict;
    if (gpu.empty()) {
      verdict = QObject::tr("No NVIDIA GPU: runs on the CPU. On a GPU it would need %1.").arg(need);
    } else if (!cuda_backend_compiled()) {
      verdict = QObject::tr("Found %1, but this build has no CUDA support: runs on the CPU. On the GPU it would need %2.")
                    .arg(QString::fromStdString(gpu), need);
    } else if (!vram) {
      verdict = QObject::tr("%1: needs %2; free memory unknown.").arg(QString::fromStdString(gpu), need);
    } else {
      const double free = static_cast<double>(vram->free);
      const bool fits = e.total() <= free;
      const int64_t fit_layers = gpu_layers_fitting(e, layer_tensor_bytes(file, n_layer), free);
      m[QStringLiteral("fits")] = fits;
      m[QStringLiteral("gpuLayersFit")] = static_cast<qint64>(fit_layers);
      verdict = (fits ? QObject::tr("Fits on %1: needs %2 of %3 free.") : QObject::tr("Does not fit on %1: needs %2, only %3 free; runs on the CPU."))
                    .arg(QString::fromStdString(gpu), need, gib(free));
      if (!fits && fit_layers > 0) {
        verdict += QLatin1Char(' ') + QObject::tr("With GPU layers set to %1 (Settings), the first %1 of its %2 layers run on the GPU and the rest on the CPU.")
                                          .arg(fit_layers)
                                          .arg(n_layer);
      }
    }
    m[QStringLiteral("verdict")] = verdict;
    out[QStringLiteral("memory")] = m;
  } catch (const std::exception& e) {
    out[QStringLiteral("error")] = QString::fromStdString(e.what());
  }
  return out;
}

}  // namespace hearth
