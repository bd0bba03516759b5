#pragma once
// A small HTTP/1.1 file server for the download tests, on 127.0.0.1 and a free port, written
// on QTcpServer (not the downloader's QNetworkAccessManager) so the tests control every byte:
// ETag, Range/If-Range (RFC 9110: a Range is honoured only when If-Range matches the current
// ETag, else the whole file is sent with 200), slow bodies (chunks on a timer, so a test can
// pause mid-body), a connection closed after N body bytes, redirects, extra headers. Every
// request is logged with its headers (lower-case names). One request per connection.
// (cpp-httplib 0.11 applies Range itself for every routed response, ignoring If-Range, so it
// could not serve the "file changed between pause and resume" case.)
#include <QByteArray>
#include <QHostAddress>
#include <QList>
#include <QMap>
#include <QPointer>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTimer>

namespace hearth_test {

class LocalHttpServer : public QObject {
 public:
  struct File {
    QByteArray body;
    QByteArray etag;                               // quoted, e.g. "\"v1\""; empty: none
    QList<QPair<QByteArray, QByteArray>> headers;  // extra response headers
    qint64 close_after = -1;                       // close the connection after this many body bytes
  };
  struct Logged {
    QByteArray method, path;
    QMap<QByteArray, QByteArray> headers;  // lower-case names
    int status = 0;
  };

  int chunk_bytes = 64 * 1024;
  int chunk_interval_ms = 0;  // 0: write the whole body at once
  QList<Logged> log;

  LocalHttpServer() {
    connect(&server_, &QTcpServer::newConnection, this, [this] {
      while (QTcpSocket* socket = server_.nextPendingConnection()) {
        socket->setParent(this);
        connect(socket, &QTcpSocket::readyRead, this, [this, socket] { on_read(socket); });
        connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
      }
    });
  }
  bool listen() { return server_.listen(QHostAddress::LocalHost, 0); }
  QString url(const QString& path) const {
    return QStringLiteral("http://127.0.0.1:%1%2").arg(server_.serverPort()).arg(path);
  }
  void set_file(const QByteArray& path, File file) { files_[path] = std::move(file); }
  File& file(const QByteArray& path) { return files_[path]; }
  void set_redirect(const QByteArray& path, const QByteArray& location, QByteArray extra_headers = {}) {
    redirects_[path] = location;
    redirect_headers_[path] = extra_headers;  // "Name: value\r\n" lines
  }

 private:
  void on_read(QTcpSocket* socket) {
    QByteArray& buffer = pending_[socket];
    buffer += socket->readAll();
    const qsizetype end = buffer.indexOf("\r\n\r\n");
    if (end < 0) return;
    const QList<QByteArray> lines = buffer.left(end).split('\n');
    pending_.remove(socket);
    disconnect(socket, &QTcpSocket::readyRead, this, nullptr);
    Logged request;
    const QList<QByteArray> first = lines.value(0).trimmed().split(' ');
    request.method = first.value(0);
    request.path = first.value(1);
    for (qsizetype i = 1; i < lines.size(); ++i) {
      const qsizetype colon = lines[i].indexOf(':');
      if (colon > 0) request.headers[lines[i].left(colon).trimmed().toLower()] = lines[i].mid(colon + 1).trimmed();
    }
    respond(socket, request);
  }

  void respond(QTcpSocket* socket, Logged request) {
    if (redirects_.contains(request.path)) {
      request.status = 302;
      log << request;
      socket->write("HTTP/1.1 302 Found\r\nLocation: " + redirects_[request.path] + "\r\n" +
                    redirect_headers_[request.path] + "Content-Length: 0\r\nConnection: close\r\n\r\n");
      socket->disconnectFromHost();
      return;
    }
    if (!files_.contains(request.path)) {
      request.status = 404;
      log << request;
      socket->write("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found");
      socket->disconnectFromHost();
      return;
    }
    const File& file = files_[request.path];
    const qint64 size = file.body.size();
    qint64 start = 0;
    const QByteArray range = request.headers.value("range");
    const QByteArray if_range = request.headers.value("if-range");
    const bool range_applies = range.startsWith("bytes=") && range.endsWith('-') &&
                               (if_range.isEmpty() || (!file.etag.isEmpty() && if_range == file.etag));
    if (range_applies) start = range.mid(6, range.size() - 7).toLongLong();
    if (start < 0 || start >= size) start = 0;
    request.status = start > 0 ? 206 : 200;
    log << request;
    QByteArray head = start > 0 ? "HTTP/1.1 206 Partial Content\r\n" : "HTTP/1.1 200 OK\r\n";
    head += "Content-Length: " + QByteArray::number(size - start) + "\r\n";
    if (start > 0) {
      head += "Content-Range: bytes " + QByteArray::number(start) + "-" + QByteArray::number(size - 1) + "/" +
              QByteArray::number(size) + "\r\n";
    }
    if (!file.etag.isEmpty()) head += "ETag: " + file.etag + "\r\n";
    for (const auto& [name, value] : file.headers) head += name + ": " + value + "\r\n";
    head += "Accept-Ranges: bytes\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n";
    socket->write(head);
    QByteArray body = file.body.mid(start);
    if (file.close_after >= 0) body = body.left(file.close_after);
    if (chunk_interval_ms <= 0) {
      socket->write(body);
      socket->disconnectFromHost();
      return;
    }
    // Slow body: one chunk per tick, until the socket goes or the body is out.
    auto* timer = new QTimer(socket);
    QPointer<QTcpSocket> guard(socket);
    connect(timer, &QTimer::timeout, socket, [guard, timer, body, offset = qint64(0), chunk = chunk_bytes]() mutable {
      if (!guard || guard->state() != QAbstractSocket::ConnectedState) return timer->stop();
      guard->write(body.mid(offset, chunk));
      offset += chunk;
      if (offset >= body.size()) {
        timer->stop();
        guard->disconnectFromHost();
      }
    });
    timer->start(chunk_interval_ms);
  }

  QTcpServer server_;
  QMap<QByteArray, File> files_;
  QMap<QByteArray, QByteArray> redirects_;
  QMap<QByteArray, QByteArray> redirect_headers_;
  QMap<QTcpSocket*, QByteArray> pending_;
};

}  // namespace hearth_test
