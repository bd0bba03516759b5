// Label gpu: on a machine with an NVIDIA GPU the probe finds it; elsewhere this reports SKIP
// (and proves that a CUDA-enabled binary starts without a driver).
#include <QFile>
#include <QTest>

#include "core/backend/cuda/cuda_probe.h"

class TestCudaProbe : public QObject {
  Q_OBJECT

 private slots:
  void probe_finds_the_device() {
    const auto probe = hearth::probe_cuda();
    if (probe.device_count == 0) QSKIP(qPrintable("no CUDA device: " + QString::fromStdString(probe.message)));
    QVERIFY(!probe.first_device_name.empty());
    QVERIFY(probe.first_device_memory > (1ull << 30));
    qInfo("device 0: %s, %.1f GiB", probe.first_device_name.c_str(), probe.first_device_memory / double(1ull << 30));
    // The driver-file lookup used by --device auto names the same GPU without initializing CUDA.
    const std::string without_cuda = hearth::nvidia_gpu_name_without_cuda();
    QVERIFY2(!without_cuda.empty(), "the NVIDIA driver's /proc files name no GPU");
    QVERIFY2(probe.first_device_name.find(without_cuda) != std::string::npos ||
                 without_cuda.find(probe.first_device_name) != std::string::npos,
             qPrintable(QString::fromStdString(without_cuda + " vs " + probe.first_device_name)));
  }

  void no_driver_means_no_name() {
    if (QFile::exists("/proc/driver/nvidia/gpus")) QSKIP("the NVIDIA driver is present");
    QVERIFY(hearth::nvidia_gpu_name_without_cuda().empty());
  }
};

QTEST_APPLESS_MAIN(TestCudaProbe)
#include "test_cuda_probe.moc"
