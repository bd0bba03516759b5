#pragma once
// DownloadJob: one model download as QML sees it (GUI thread). The work is done by a
// DownloadTransfer on the download thread; this object forwards pause/resume/cancel to it
// (queued) and turns its reports into properties: bytes, rate (smoothed), ETA, state, error.
//
// States: "downloading", "paused", "failed" (see `resumable`), "cancelled", "done".
#include <QtQml/qqmlregistration.h>

#include <QElapsedTimer>
#include <QObject>
#include <QString>

namespace hearth {

class DownloadTransfer;

class DownloadJob : public QObject {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("DownloadJob is created by DownloadManager")
  Q_PROPERTY(QString fileName READ file_name CONSTANT)
  Q_PROPERTY(QString url READ url CONSTANT)
  Q_PROPERTY(QString state READ state NOTIFY changed)
  Q_PROPERTY(double received READ received NOTIFY changed)       // bytes (double: QML numbers)
  Q_PROPERTY(double total READ total NOTIFY changed)             // bytes; -1 while unknown
  Q_PROPERTY(double progress READ progress NOTIFY changed)       // 0..1; -1 while unknown
  Q_PROPERTY(double bytesPerSecond READ bytes_per_second NOTIFY changed)
  Q_PROPERTY(double etaSeconds READ eta_seconds NOTIFY changed)  // -1 while unknown
  Q_PROPERTY(QString progressText READ progress_text NOTIFY changed)  // "12.3 MB of 1.1 GB · 8.0 MB/s · 2 min left"
  Q_PROPERTY(QString error READ error NOTIFY changed)
  Q_PROPERTY(bool resumable READ resumable NOTIFY changed)
  Q_PROPERTY(QString note READ note NOTIFY changed)              // e.g. why a resume started over
  Q_PROPERTY(QString path READ path NOTIFY changed)              // the final file once done
  Q_PROPERTY(QString sha256 READ sha256 NOTIFY changed)
  Q_PROPERTY(bool verified READ verified NOTIFY changed)

 public:
  // Takes `transfer` (already moved to the download thread) and starts it.
  DownloadJob(QString file_name, QString url, DownloadTransfer* transfer, QObject* parent = nullptr);
  ~DownloadJob() override;

  Q_INVOKABLE void pause();
  Q_INVOKABLE void resume();
  Q_INVOKABLE void cancel();

  QString file_name() const { return file_name_; }
  QString url() const { return url_; }
  QString state() const { return state_; }
  double received() const { return static_cast<double>(received_); }
  double total() const { return static_cast<double>(total_); }
  double progress() const;
  double bytes_per_second() const { return rate_; }
  double eta_seconds() const;
  QString progress_text() const;
  QString error() const { return error_; }
  bool resumable() const { return resumable_; }
  QString note() const { return note_; }
  QString path() const { return path_; }
  QString sha256() const { return sha256_; }
  bool verified() const { return verified_; }
  bool active() const { return state_ == QLatin1String("downloading") || state_ == QLatin1String("paused"); }

 signals:
  void changed();
  void finished(bool ok);  // done (true) or failed / cancelled (false)

 private:
  void on_progress(qint64 received, qint64 total);
  void set_state(const QString& state);

  QString file_name_;
  QString url_;
  DownloadTransfer* transfer_;  // lives on the download thread; deleted there (deleteLater)
  QString state_ = QStringLiteral("downloading");
  qint64 received_ = 0;
  qint64 total_ = -1;
  double rate_ = 0;
  QElapsedTimer rate_clock_;
  qint64 rate_bytes_ = 0;  // received_ when rate_clock_ was last restarted
  QString error_;
  bool resumable_ = false;
  QString note_;
  QString path_;
  QString sha256_;
  bool verified_ = false;
};

}  // namespace hearth
