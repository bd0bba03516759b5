// Label gpu: on a machine with an NVIDIA GPU the probe finds it; elsewhere this reports SKIP
// (and proves that a CUDA-enabled binary starts without a driver).
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
  }
};

QTEST_APPLESS_MAIN(TestCudaProbe)
#include "test_cuda_probe.moc"
