#include "app/gui/download_job.h"

#include <QLocale>
#include <QMetaObject>
#include <cmath>
#include <utility>

#include "app/gui/download_transfer.h"

namespace hearth {
namespace {

constexpr qint64 kRateWindowMs = 500;   // the rate is measured over at least this long
constexpr double kRateSmoothing = 0.5;  // weight of the newest window

QString duration_text(double seconds) {
  if (seconds < 90) return QObject::tr("%1 s left").arg(std::ceil(seconds));
  if (seconds < 90 * 60) return QObject::tr("%1 min left").arg(std::ceil(seconds / 60));
  return QObject::tr("%1 h left").arg(seconds / 3600, 0, 'f', 1);
}

}  // namespace

DownloadJob::DownloadJob(QString file_name, QString url, DownloadTransfer* transfer, QObject* parent)
    : QObject(parent), file_name_(std::move(file_name)), url_(std::move(url)), transfer_(transfer) {
  // Queued connections: the transfer reports from the download thread.
  connect(transfer_, &DownloadTransfer::progress, this, &DownloadJob::on_progress);
  connect(transfer_, &DownloadTransfer::restarted, this, [this](const QString& why) {
    note_ = why;
    rate_bytes_ = 0;
    emit changed();
  });
  connect(transfer_, &DownloadTransfer::paused, this, [this] { set_state(QStringLiteral("paused")); });
  connect(transfer_, &DownloadTransfer::cancelled, this, [this] {
    received_ = 0;
    set_state(QStringLiteral("cancelled"));
    emit finished(false);
  });
  connect(transfer_, &DownloadTransfer::failed, this, [this](const QString& error, bool resumable) {
    error_ = error;
    resumable_ = resumable;
    set_state(QStringLiteral("failed"));
    emit finished(false);
  });
  connect(transfer_, &DownloadTransfer::completed, this, [this](const QString& path, const QString& sha256, bool verified) {
    path_ = path;
    sha256_ = sha256;
    verified_ = verified;
    set_state(QStringLiteral("done"));
    emit finished(true);
  });
  rate_clock_.start();
  QMetaObject::invokeMethod(transfer_, [t = transfer_] { t->start(); }, Qt::QueuedConnection);
}

DownloadJob::~DownloadJob() { transfer_->deleteLater(); }

void DownloadJob::pause() {
  if (state_ != QLatin1String("downloading")) return;
  QMetaObject::invokeMethod(transfer_, [t = transfer_] { t->pause(); }, Qt::QueuedConnection);
}

void DownloadJob::resume() {
  const bool can = state_ == QLatin1String("paused") || (state_ == QLatin1String("failed") && resumable_);
  if (!can) return;
  error_.clear();
  note_.clear();
  rate_ = 0;
  rate_bytes_ = received_;
  rate_clock_.restart();
  set_state(QStringLiteral("downloading"));
  QMetaObject::invokeMethod(transfer_, [t = transfer_] { t->start(); }, Qt::QueuedConnection);
}

void DownloadJob::cancel() {
  if (state_ == QLatin1String("done") || state_ == QLatin1String("cancelled")) return;
  QMetaObject::invokeMethod(transfer_, [t = transfer_] { t->cancel(); }, Qt::QueuedConnection);
}

double DownloadJob::progress() const {
  return total_ > 0 ? static_cast<double>(received_) / static_cast<double>(total_) : (total_ == 0 ? 1.0 : -1.0);
}

double DownloadJob::eta_seconds() const {
  if (total_ < 0 || rate_ <= 0 || state_ != QLatin1String("downloading")) return -1;
  return static_cast<double>(total_ - received_) / rate_;
}

QString DownloadJob::progress_text() const {
  const QLocale c = QLocale::c();
  QString text = total_ >= 0 ? tr("%1 of %2").arg(c.formattedDataSize(received_), c.formattedDataSize(total_))
                             : c.formattedDataSize(received_);
  if (state_ == QLatin1String("downloading") && rate_ > 0) {
    text += QStringLiteral(" · %1/s").arg(c.formattedDataSize(static_cast<qint64>(rate_)));
    const double eta = eta_seconds();
    if (eta >= 0) text += QStringLiteral(" · ") + duration_text(eta);
  }
  return text;
}

void DownloadJob::on_progress(qint64 received, qint64 total) {
  if (received < rate_bytes_) rate_bytes_ = received;  // restarted from zero
  received_ = received;
  total_ = total;
  const qint64 ms = rate_clock_.elapsed();
  if (ms >= kRateWindowMs) {
    const double window_rate = static_cast<double>(received_ - rate_bytes_) * 1000.0 / static_cast<double>(ms);
    rate_ = rate_ > 0 ? kRateSmoothing * window_rate + (1 - kRateSmoothing) * rate_ : window_rate;
    rate_bytes_ = received_;
    rate_clock_.restart();
  }
  emit changed();
}

void DownloadJob::set_state(const QString& state) {
  state_ = state;
  if (state_ != QLatin1String("downloading")) rate_ = 0;
  emit changed();
}

}  // namespace hearth
