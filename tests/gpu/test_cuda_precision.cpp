// Label gpu (slow): which path is off, and by how much? The CPU path and the two CUDA paths (the
// prefill path: FP16 tensor-core products; the decode path: one token per step, int8 activations)
// against the float64 reference (tests/reference/forward.py, its own parser and dequantizer) on
// the synthetic model in HEARTH_SYNTH_MODEL, teacher-forced over HEARTH_PRECISION_POSITIONS
// (default 128) random tokens (seed printed; HEARTH_PRECISION_TOKENS=FILE reads them instead, and
// HEARTH_PRECISION_REFERENCE=FILE takes their float64 logits from a raw little-endian file).
//
// A random-weight model has near-ties at the top of its logits (its top-1 margin is a fraction
// of the logit spread), so a path's top-1 may differ from float64 at positions whose margin is
// below its rounding noise without any bug. Checked, per path:
//  - its RMS logit error (relative to the RMS of the float64 logits) stays under 6% (the CPU path
//    measured 3.5% on llama-3.2-1b q4_k_m, its Q8_K activations: one int8 scale per 256) and, for
//    the CUDA paths, under 1.25x the CPU path's (the GPU is not the less precise path);
//  - top-1 equal to float64 wherever float64's margin exceeds 6x the path's RMS error.
// Prints the agreement counts and margins. Without a GPU, the CPU part still runs. SKIP when the
// model or python3 + NumPy are missing. HEARTH_PRECISION_DUMP=DIR writes the tokens and every
// path's logits (float32) for tests/gpu/precision_study.py --tokens/--logits.
#include <QProcess>
#include <QTest>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cuda/cuda_entry.h"
#include "core/backend/cuda/cuda_probe.h"
#include "core/model/loaded_model.h"

using namespace hearth;

namespace {

struct PathError {
  double rms_relative = 0;  // RMS(logit - float64) / RMS(float64)
  double rms = 0;
  double max_abs = 0;
  int agree = 0;            // top-1 equal to float64's
  int decided = 0;          // positions whose float64 margin exceeds 6x rms
  int decided_agree = 0;
  double worst_margin_flip = 0;  // largest float64 margin where the top-1 differs
};

int argmax(const float* v, int64_t n) { return int(std::max_element(v, v + n) - v); }
int argmax(const double* v, int64_t n) { return int(std::max_element(v, v + n) - v); }

double margin_at(const double* v, int64_t n) {
  double a = -INFINITY, b = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    if (v[i] > a) {
      b = a;
      a = v[i];
    } else if (v[i] > b) {
      b = v[i];
    }
  }
  return a - b;
}

PathError compare(const std::vector<float>& got, const std::vector<double>& ref, int64_t positions, int64_t V) {
  PathError e;
  double se = 0, sr = 0;
  bool finite = true;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) finite = false;
    const double d = double(got[i]) - ref[i];
    se += d * d;
    sr += ref[i] * ref[i];
    e.max_abs = std::max(e.max_abs, std::abs(d));
  }
  e.rms = std::sqrt(se / double(ref.size()));
  e.rms_relative = finite ? std::sqrt(se / sr) : INFINITY;
  for (int64_t p = 0; p < positions; ++p) {
    const double* r = &ref[p * V];
    const int top_ref = argmax(r, V), top = argmax(&got[p * V], V);
    const double m = margin_at(r, V);
    e.agree += top == top_ref;
    if (top != top_ref) e.worst_margin_flip = std::max(e.worst_margin_flip, m);
    if (m > 6 * e.rms) {
      ++e.decided;
      e.decided_agree += top == top_ref;
    }
  }
  return e;
}

// Float64 logits [tokens, n_vocab] from tests/reference/forward.py. The script is looked up under
// the source tree this test was built from, else under the current directory (a copy of the
// tree elsewhere, e.g. on a GPU machine); the interpreter is HEARTH_REFERENCE_PYTHON, else the
// one CMake found, else python3 (it needs NumPy).
bool reference_logits(const std::filesystem::path& model, const std::vector<TokenId>& tokens,
                      std::vector<double>& logits, QString& error) {
  std::filesystem::path script = HEARTH_SOURCE_DIR "/tests/reference/forward.py";
  if (!std::filesystem::exists(script)) script = std::filesystem::current_path() / "tests/reference/forward.py";
  QString python = HEARTH_PYTHON;
  if (const char* p = std::getenv("HEARTH_REFERENCE_PYTHON"); p && *p) python = p;
  if (python.isEmpty() || !std::filesystem::exists(python.toStdString())) python = "python3";
  const auto out = std::filesystem::temp_directory_path() / ("hearth_precision_" + std::to_string(::getpid()) + ".f64");
  QStringList ids;
  for (TokenId t : tokens) ids << QString::number(t);
  QProcess p;
  p.start(python, {QString::fromStdString(script.string()), QString::fromStdString(model.string()), "--tokens",
                   ids.join(','), "--out", QString::fromStdString(out.string())});
  if (!p.waitForFinished(1800000) || p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0) {
    error = "float64 reference (" + python + " " + QString::fromStdString(script.string()) +
            ") failed: " + QString::fromUtf8(p.readAllStandardError()).left(400);
    return false;
  }
  std::ifstream f(out, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::filesystem::remove(out);
  logits.resize(bytes.size() / sizeof(double));
  std::memcpy(logits.data(), bytes.data(), logits.size() * sizeof(double));
  return true;
}

void dump(const std::filesystem::path& file, const void* data, size_t bytes) {
  std::ofstream f(file, std::ios::binary);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
}

}  // namespace

class TestCudaPrecision : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    const char* path = std::getenv("HEARTH_SYNTH_MODEL");
    if (!path || !*path) QSKIP("HEARTH_SYNTH_MODEL not set");
    if (const char* p = std::getenv("HEARTH_PRECISION_POSITIONS"); p && *p) positions_ = std::atoi(p);
    QVERIFY(positions_ > 0 && positions_ <= 1024);
    seed_ = std::random_device{}();
    model_ = LoadedModel::open(path);
    V_ = model_->config().n_vocab;
    if (const char* file = std::getenv("HEARTH_PRECISION_TOKENS"); file && *file) {
      std::ifstream f(file);  // one id per line, e.g. tests/gpu/precision_study.py --tokens-out
      for (TokenId t; f >> t;) tokens_.push_back(t);
      positions_ = static_cast<int64_t>(tokens_.size());
      QVERIFY(positions_ > 0);
      for (TokenId t : tokens_) QVERIFY(t >= 0 && t < V_);
    } else {
      std::mt19937 rng(seed_);
      std::uniform_int_distribution<TokenId> any(0, TokenId(V_ - 1));
      tokens_.resize(static_cast<size_t>(positions_));
      for (auto& t : tokens_) t = any(rng);
    }
    qInfo("seed %u, %lld positions", seed_, static_cast<long long>(positions_));
    QString error;
    if (const char* file = std::getenv("HEARTH_PRECISION_REFERENCE"); file && *file) {
      std::ifstream f(file, std::ios::binary);  // float64 logits of these tokens, computed before
      const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      ref_.resize(bytes.size() / sizeof(double));
      std::memcpy(ref_.data(), bytes.data(), ref_.size() * sizeof(double));
    } else if (!reference_logits(model_->path(), tokens_, ref_, error)) {
      QSKIP(qPrintable(error));
    }
    QCOMPARE(int64_t(ref_.size()), positions_ * V_);
    {  // before CUDA is initialized (see probe_cuda())
      CpuBackend cpu(model_->config(), model_->weights(), {.n_threads = 8, .context_size = positions_});
      cpu.forward({tokens_, true}, cpu_);
    }
    double margin_sum = 0;
    std::vector<double> margins;
    for (int64_t p = 0; p < positions_; ++p) margins.push_back(margin_at(&ref_[p * V_], V_));
    std::sort(margins.begin(), margins.end());
    for (double m : margins) margin_sum += m;
    double sr = 0;
    for (double r : ref_) sr += r * r;
    qInfo("float64: RMS logit %.4f, top-1 margin median %.4f, mean %.4f, p10 %.4f, min %.5f",
          std::sqrt(sr / double(ref_.size())), margins[margins.size() / 2], margin_sum / double(margins.size()),
          margins[margins.size() / 10], margins.front());
    if (const char* d = std::getenv("HEARTH_PRECISION_DUMP"); d && *d) dump_dir_ = d;
    if (!dump_dir_.empty()) {
      std::filesystem::create_directories(dump_dir_);
      std::ofstream t(dump_dir_ / "tokens.txt");
      for (TokenId id : tokens_) t << id << "\n";
      dump(dump_dir_ / "cpu.f32", cpu_.data(), cpu_.size() * sizeof(float));
    }
  }

  void cpu_path_against_float64() {
    cpu_error_ = report("cpu", cpu_);
    QVERIFY2(cpu_error_.rms_relative < 0.06, qPrintable(QString("CPU RMS error %1").arg(cpu_error_.rms_relative)));
    QVERIFY2(cpu_error_.decided_agree == cpu_error_.decided, "CPU top-1 differs where float64 has a clear winner");
  }

  void cuda_paths_against_float64() {
    if (!cuda_backend_compiled()) QSKIP("this build has no CUDA");
    if (nvidia_gpu_name_without_cuda().empty()) QSKIP("no NVIDIA GPU");
    const auto probe = probe_cuda();
    if (probe.device_count == 0) QSKIP("no CUDA device");
    std::vector<float> prefill, decode;
    {
      CudaBackendOptions o;
      o.context_size = positions_;
      auto gpu = create_cuda_backend(model_->config(), model_->weights(), o);
      gpu->forward({tokens_, true}, prefill);
      // One token per step: the decode kernels (graph-captured int8 matvecs).
      gpu->truncate(0);
      std::vector<float> step;
      for (int64_t p = 0; p < positions_; ++p) {
        const TokenId in[1] = {tokens_[static_cast<size_t>(p)]};
        gpu->forward({in, false}, step);
        decode.insert(decode.end(), step.begin(), step.end());
      }
    }
    const PathError pre = report("cuda prefill", prefill);
    const PathError dec = report("cuda decode", decode);
    for (const auto& [name, e] : {std::pair{"prefill", pre}, std::pair{"decode", dec}}) {
      QVERIFY2(e.rms_relative < 0.06, qPrintable(QString("CUDA %1: RMS error %2").arg(name).arg(e.rms_relative)));
      QVERIFY2(e.rms_relative <= 1.25 * cpu_error_.rms_relative + 1e-4,
               qPrintable(QString("CUDA %1 is less precise than the CPU path: %2 vs %3")
                              .arg(name).arg(e.rms_relative).arg(cpu_error_.rms_relative)));
      QVERIFY2(e.decided_agree == e.decided, qPrintable(QString("CUDA %1: top-1 differs where float64 has a clear "
                                                                "winner (%2 of %3)")
                                                            .arg(name).arg(e.decided - e.decided_agree).arg(e.decided)));
    }
    int cpu_vs_prefill = 0;
    for (int64_t p = 0; p < positions_; ++p) cpu_vs_prefill += argmax(&cpu_[p * V_], V_) == argmax(&prefill[p * V_], V_);
    qInfo("top-1 CPU vs CUDA prefill: %d / %lld", cpu_vs_prefill, static_cast<long long>(positions_));
    if (!dump_dir_.empty()) {
      dump(dump_dir_ / "cuda_prefill.f32", prefill.data(), prefill.size() * sizeof(float));
      dump(dump_dir_ / "cuda_decode.f32", decode.data(), decode.size() * sizeof(float));
    }
  }

 private:
  PathError report(const char* name, const std::vector<float>& got) {
    if (int64_t(got.size()) != positions_ * V_) {
      qWarning("%s: %zu logits, expected %lld", name, got.size(), static_cast<long long>(positions_ * V_));
      return PathError{INFINITY, INFINITY, INFINITY};
    }
    const PathError e = compare(got, ref_, positions_, V_);
    qInfo("%-13s vs float64: RMS error %.5f (%.3g of RMS logit), max |d| %.4f; top-1 agrees %d / %lld (largest "
          "float64 margin at a flip %.4f); clear winners (margin > 6 x RMS error) %d / %d",
          name, e.rms, e.rms_relative, e.max_abs, e.agree, static_cast<long long>(positions_), e.worst_margin_flip,
          e.decided_agree, e.decided);
    return e;
  }

  unsigned seed_ = 0;
  int64_t positions_ = 128;
  int64_t V_ = 0;
  std::unique_ptr<LoadedModel> model_;
  std::vector<TokenId> tokens_;
  std::vector<double> ref_;
  std::vector<float> cpu_;
  PathError cpu_error_;
  std::filesystem::path dump_dir_;
};

QTEST_APPLESS_MAIN(TestCudaPrecision)
#include "test_cuda_precision.moc"
