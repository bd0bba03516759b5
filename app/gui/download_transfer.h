#pragma once
// DownloadTransfer: the network and disk side of one model download. It lives on the download
// thread (DownloadManager's), never the GUI thread: it owns its QNetworkAccessManager, streams
// the body into "<name>.part" in the models folder, hashes it (SHA-256, incrementally, as it
// arrives) and, when the body is complete and the hash matches, renames the part to its final
// name (atomically, and without replacing an existing file unless `overwrite`).
//
// Pause aborts the request and keeps the part, the byte count and the hash state; resume asks
// for the rest with "Range: bytes=<n>-" and "If-Range: <ETag of the first response>". A server
// that answers 200 (If-Range failed: the file changed) or a 206 with another ETag restarts the
// download from zero. Without a strong ETag a resume also restarts from zero. A part left behind
// by an earlier run of the app is not resumed (its hash state is gone): it is overwritten.
//
// Hashes: the expected SHA-256 is the one given (catalog, user); failing that, the server's
// X-Linked-Etag when it is 64 hex digits (Hugging Face sends the Git LFS object id there, which
// is the SHA-256 of the content: it catches a corrupted or truncated transfer, not a hostile
// server); failing that the file is kept as "unverified" and its SHA-256 reported.
//
// All slots are called through queued invocations from the GUI thread; all signals are received
// there through queued connections.
#include <QByteArray>
#include <QCryptographicHash>
#include <QElapsedTimer>
#include <QFile>
#include <QObject>
#include <QString>
#include <QUrl>

#include "app/gui/download_policy.h"

class QNetworkAccessManager;
class QNetworkReply;

namespace hearth {

struct DownloadRequest {
  QUrl url;
  QString part_path;         // "<models>/<name>.part"
  QString final_path;        // "<models>/<name>.gguf"
  QString expected_sha256;   // lower-case hex; empty: see the header comment
  bool overwrite = false;    // replace an existing final_path
  DownloadPolicy policy;
  QByteArray user_agent;     // "Hearth/<version>"
};

class DownloadTransfer : public QObject {
  Q_OBJECT

 public:
  explicit DownloadTransfer(DownloadRequest request, QObject* parent = nullptr);
  ~DownloadTransfer() override;

  // Starts, or resumes after pause() or a network failure. Ignored while a request runs.
  void start();
  void pause();
  // Stops and deletes the part file.
  void cancel();

 signals:
  // total: -1 while unknown. Throttled to about ten a second, plus one at the end.
  void progress(qint64 received, qint64 total);
  void restarted(const QString& why);  // a resume that had to start from zero
  void paused();
  void cancelled();
  // `resumable`: the part was kept and start() continues it; otherwise it was deleted.
  void failed(const QString& error, bool resumable);
  // The file is at its final path. `verified`: its SHA-256 matched a known hash.
  void completed(const QString& path, const QString& sha256, bool verified);

 private:
  void send();
  bool check_response();  // on the first body bytes or at the end; false when it failed
  void on_ready_read();
  void on_finished();
  void on_redirected(const QUrl& target);
  void fail(const QString& error, bool resumable);
  void restart_from_zero(const QString& why);
  void reset_progress();
  void finish_file();
  void emit_progress(bool force);
  void drop_reply();

  DownloadRequest request_;
  QNetworkAccessManager* network_ = nullptr;  // created on first start() (on this thread)
  QNetworkReply* reply_ = nullptr;
  QFile part_;
  QCryptographicHash hash_{QCryptographicHash::Sha256};
  qint64 received_ = 0;      // bytes written to the part and hashed
  qint64 total_ = -1;
  QByteArray etag_;          // of the response the part's bytes came from
  QString server_sha256_;    // from X-Linked-Etag
  QString redirect_sha256_;  // X-Linked-Etag of a redirect (Hugging Face sends it on the 302)
  bool sent_range_ = false;
  bool response_checked_ = false;
  QElapsedTimer since_progress_;
};

}  // namespace hearth
