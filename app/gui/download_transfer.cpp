#include "app/gui/download_transfer.h"

#include <QFileInfo>
#include <QLocale>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QStorageInfo>
#include <utility>

#ifdef Q_OS_UNIX
#include <unistd.h>
#endif

namespace hearth {
namespace {

constexpr qint64 kProgressIntervalMs = 100;

bool is_sha256_hex(const QString& s) {
  if (s.size() != 64) return false;
  for (QChar c : s) {
    if (!c.isDigit() && !(c >= QLatin1Char('a') && c <= QLatin1Char('f'))) return false;
  }
  return true;
}

QString size_text(qint64 bytes) { return QLocale::c().formattedDataSize(bytes); }

// "bytes 100-999/1000" -> {100, 1000}; total -1 for "*". False when malformed.
bool parse_content_range(const QByteArray& value, qint64& start, qint64& total) {
  if (!value.startsWith("bytes ")) return false;
  const QByteArray spec = value.mid(6).trimmed();
  const qsizetype dash = spec.indexOf('-');
  const qsizetype slash = spec.indexOf('/');
  if (dash <= 0 || slash <= dash + 1) return false;
  bool ok_start = false, ok_end = false;
  start = spec.left(dash).toLongLong(&ok_start);
  const qint64 end = spec.mid(dash + 1, slash - dash - 1).toLongLong(&ok_end);
  if (!ok_start || !ok_end || start < 0 || end < start) return false;
  const QByteArray total_text = spec.mid(slash + 1);
  if (total_text == "*") {
    total = -1;
    return true;
  }
  bool ok_total = false;
  total = total_text.toLongLong(&ok_total);
  return ok_total && total > end;
}

}  // namespace

DownloadTransfer::DownloadTransfer(DownloadRequest request, QObject* parent)
    : QObject(parent), request_(std::move(request)), part_(request_.part_path, this) {}  // a child: moves threads with us

DownloadTransfer::~DownloadTransfer() { drop_reply(); }  // a closing app keeps the part

void DownloadTransfer::start() {
  if (reply_) return;
  if (!network_) {
    network_ = new QNetworkAccessManager(this);
    network_->setRedirectPolicy(QNetworkRequest::UserVerifiedRedirectPolicy);
  }
  // A part whose bytes are not the ones hashed so far (deleted, or left by an earlier run)
  // cannot be continued.
  if (received_ > 0 && QFileInfo(request_.part_path).size() != received_) reset_progress();
  const QIODevice::OpenMode mode = received_ > 0 ? QIODevice::WriteOnly | QIODevice::Append
                                                 : QIODevice::WriteOnly | QIODevice::Truncate;
  if (!part_.open(mode)) {
    fail(QStringLiteral("cannot write %1: %2").arg(request_.part_path, part_.errorString()), false);
    return;
  }
  send();
}

void DownloadTransfer::send() {
  QNetworkRequest request(request_.url);
  request.setHeader(QNetworkRequest::UserAgentHeader, request_.user_agent);
  request.setMaximumRedirectsAllowed(request_.policy.max_redirects);
  // The bytes on disk must be the bytes of the file: no transparent decompression.
  request.setRawHeader("Accept-Encoding", "identity");
  sent_range_ = false;
  if (received_ > 0) {
    if (etag_.isEmpty() || etag_.startsWith("W/")) {
      // If-Range needs a strong validator; without one a continued file could be a mix of two.
      reset_progress();
      part_.resize(0);
      emit restarted(QStringLiteral("the server gave no strong ETag, so the download starts again"));
    } else {
      request.setRawHeader("Range", "bytes=" + QByteArray::number(received_) + "-");
      request.setRawHeader("If-Range", etag_);
      sent_range_ = true;
    }
  }
  response_checked_ = false;
  redirect_sha256_.clear();
  since_progress_.start();
  reply_ = network_->get(request);
  connect(reply_, &QNetworkReply::readyRead, this, &DownloadTransfer::on_ready_read);
  connect(reply_, &QNetworkReply::finished, this, &DownloadTransfer::on_finished);
  connect(reply_, &QNetworkReply::redirected, this, &DownloadTransfer::on_redirected);
}

void DownloadTransfer::pause() {
  if (!reply_) return;
  drop_reply();
  part_.close();
  emit_progress(true);
  emit paused();
}

void DownloadTransfer::cancel() {
  drop_reply();
  part_.close();
  QFile::remove(request_.part_path);
  reset_progress();
  emit cancelled();
}

void DownloadTransfer::drop_reply() {
  if (!reply_) return;
  QNetworkReply* reply = std::exchange(reply_, nullptr);
  reply->disconnect(this);
  reply->abort();
  reply->deleteLater();
}

void DownloadTransfer::reset_progress() {
  received_ = 0;
  total_ = -1;
  etag_.clear();
  server_sha256_.clear();
  hash_.reset();
}

void DownloadTransfer::on_redirected(const QUrl& target) {
  const QString why = check_download_url(target, request_.policy);
  if (!why.isEmpty()) {
    fail(QStringLiteral("redirect refused: %1").arg(why), false);
    return;
  }
  // Hugging Face answers /resolve/ with a redirect to its CDN and puts the content's SHA-256
  // (X-Linked-Etag) on that redirect, not on the final response.
  const QString linked = QString::fromLatin1(reply_->rawHeader("X-Linked-Etag")).remove(QLatin1Char('"')).toLower();
  if (is_sha256_hex(linked)) redirect_sha256_ = linked;
  emit reply_->redirectAllowed();
}

bool DownloadTransfer::check_response() {
  if (response_checked_) return true;
  response_checked_ = true;
  const int status = reply_->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
  if (status >= 400 || status == 0) {
    if (status == 0) return true;  // no HTTP response at all: on_finished reports the network error
    const QString reason = reply_->attribute(QNetworkRequest::HttpReasonPhraseAttribute).toString();
    fail(QStringLiteral("the server answered HTTP %1 %2").arg(status).arg(reason).trimmed(), false);
    return false;
  }
  const QByteArray etag = reply_->rawHeader("ETag");
  qint64 total = -1;
  if (status == 206) {
    qint64 start = 0;
    if (!sent_range_ || !parse_content_range(reply_->rawHeader("Content-Range"), start, total) || start != received_) {
      fail(QStringLiteral("the server sent a partial answer that does not continue the file"), false);
      return false;
    }
    if (etag != etag_) {
      restart_from_zero(QStringLiteral("the file changed on the server (new ETag), so the download starts again"));
      return false;
    }
  } else if (status == 200) {
    if (sent_range_) {
      // If-Range did not match (or the server ignores Range): this is the whole, current file.
      reset_progress();
      part_.resize(0);
      part_.seek(0);
      emit restarted(QStringLiteral("the file changed on the server, so the download starts again"));
    }
    const QVariant length = reply_->header(QNetworkRequest::ContentLengthHeader);
    total = length.isValid() ? length.toLongLong() : -1;
    etag_ = etag;
    const QString linked = QString::fromLatin1(reply_->rawHeader("X-Linked-Etag")).remove(QLatin1Char('"')).toLower();
    server_sha256_ = is_sha256_hex(linked) ? linked : redirect_sha256_;
  } else {
    fail(QStringLiteral("unexpected answer from the server: HTTP %1").arg(status), false);
    return false;
  }
  total_ = total;
  if (total_ >= 0) {
    if (static_cast<quint64>(total_) > request_.policy.max_bytes) {
      fail(QStringLiteral("the file is %1, more than the limit of %2")
               .arg(size_text(total_), size_text(static_cast<qint64>(request_.policy.max_bytes))),
           false);
      return false;
    }
    const QStorageInfo disk(QFileInfo(request_.part_path).absolutePath());
    const qint64 needed = total_ - received_;
    if (disk.isValid() && disk.bytesAvailable() >= 0 && disk.bytesAvailable() < needed) {
      fail(QStringLiteral("not enough disk space: %1 needed, %2 free")
               .arg(size_text(needed), size_text(disk.bytesAvailable())),
           true);
      return false;
    }
  }
  return true;
}

void DownloadTransfer::on_ready_read() {
  if (!check_response() || !reply_) return;
  const QByteArray data = reply_->readAll();
  if (data.isEmpty()) return;
  const qint64 after = received_ + data.size();
  if (static_cast<quint64>(after) > request_.policy.max_bytes || (total_ >= 0 && after > total_)) {
    fail(total_ >= 0 && after > total_ ? QStringLiteral("the server sent more bytes than it announced")
                                       : QStringLiteral("the download passed the size limit"),
         false);
    return;
  }
  if (part_.write(data) != data.size()) {
    fail(QStringLiteral("cannot write %1: %2 (is the disk full?)").arg(request_.part_path, part_.errorString()), true);
    return;
  }
  hash_.addData(data);
  received_ = after;
  emit_progress(false);
}

void DownloadTransfer::on_finished() {
  if (!reply_) return;
  if (!check_response() || !reply_) return;
  on_ready_read();
  if (!reply_) return;
  const QNetworkReply::NetworkError error = reply_->error();
  const QString error_text = reply_->errorString();
  drop_reply();
  if (error != QNetworkReply::NoError) {
    part_.close();
    fail(QStringLiteral("the download stopped after %1: %2").arg(size_text(received_), error_text), true);
    return;
  }
  if (total_ >= 0 && received_ != total_) {
    part_.close();
    fail(QStringLiteral("the connection closed after %1 of %2").arg(size_text(received_), size_text(total_)), true);
    return;
  }
  finish_file();
}

void DownloadTransfer::finish_file() {
  emit_progress(true);
  bool flushed = part_.flush();
#ifdef Q_OS_UNIX
  flushed = flushed && ::fsync(part_.handle()) == 0;  // the rename must not publish unwritten bytes
#endif
  part_.close();
  if (!flushed) {
    fail(QStringLiteral("cannot write %1 (is the disk full?)").arg(request_.part_path), true);
    return;
  }
  const QString sha256 = QString::fromLatin1(hash_.result().toHex());
  const QString expected = !request_.expected_sha256.isEmpty() ? request_.expected_sha256 : server_sha256_;
  if (!expected.isEmpty() && expected != sha256) {
    fail(QStringLiteral("SHA-256 mismatch: expected %1, got %2; the download was deleted").arg(expected, sha256), false);
    return;
  }
  if (QFileInfo::exists(request_.final_path)) {
    if (!request_.overwrite) {
      fail(QStringLiteral("%1 already exists; it was not replaced").arg(QFileInfo(request_.final_path).fileName()), false);
      return;
    }
    QFile::remove(request_.final_path);
  }
  if (!QFile::rename(request_.part_path, request_.final_path)) {
    fail(QStringLiteral("cannot move the download to %1").arg(request_.final_path), true);
    return;
  }
  reset_progress();
  emit completed(request_.final_path, sha256, !expected.isEmpty());
}

void DownloadTransfer::fail(const QString& error, bool resumable) {
  drop_reply();
  part_.close();
  if (!resumable) {
    QFile::remove(request_.part_path);
    reset_progress();
  }
  emit_progress(true);
  emit failed(error, resumable);
}

void DownloadTransfer::restart_from_zero(const QString& why) {
  drop_reply();
  part_.close();
  reset_progress();
  emit restarted(why);
  emit_progress(true);
  start();
}

void DownloadTransfer::emit_progress(bool force) {
  if (!force && since_progress_.isValid() && since_progress_.elapsed() < kProgressIntervalMs) return;
  since_progress_.restart();
  emit progress(received_, total_);
}

}  // namespace hearth
