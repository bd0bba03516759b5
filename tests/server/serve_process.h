#pragma once
// Starts `hearth-cli serve` on stories260K on a port the system picks (--port 0) and reads the
// port from its "listening on http://HOST:PORT" line; stops it (SIGTERM, then kill) when destroyed.
// Also: a tiny blocking socket client for requests httplib's client will not send (bad bytes,
// stalls, abrupt closes), and the server's resident memory from /proc.
#include <QProcess>
#include <QString>
#include <QStringList>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>

namespace hearth::test {

inline QString stories_model() { return QStringLiteral(HEARTH_SOURCE_DIR "/resources/models/stories260K.gguf"); }

class ServeProcess {
 public:
  ServeProcess() = default;
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;
  ~ServeProcess() { stop(); }

  // Returns an empty string on success, else what went wrong (with the server's exit code).
  // `model`: a GGUF file other than stories260K.
  QString start(const QStringList& extra_args, const QString& model = stories_model()) {
    proc_.setProcessChannelMode(QProcess::ForwardedErrorChannel);  // logs to the test's output
    QStringList args = {"serve", "-m", model, "--port", "0", "--log-level", "warn"};
    args += extra_args;
    proc_.start(QStringLiteral(HEARTH_CLI), args);
    if (!proc_.waitForStarted(20000)) return "cannot start " HEARTH_CLI;
    QByteArray out;
    while (!out.contains('\n')) {
      if (!proc_.waitForReadyRead(60000)) {
        proc_.waitForFinished(2000);
        return QString("no 'listening' line (exit code %1): %2").arg(proc_.exitCode()).arg(QString::fromUtf8(out));
      }
      out += proc_.readAllStandardOutput();
    }
    const int at = out.indexOf("http://");
    const int colon = out.indexOf(':', at + 7);
    const int space = out.indexOf(' ', colon);
    if (at < 0 || colon < 0) return "unexpected first line: " + QString::fromUtf8(out);
    port_ = out.mid(colon + 1, space - colon - 1).toInt();
    return port_ > 0 ? QString() : "no port in: " + QString::fromUtf8(out);
  }

  void stop() {
    if (proc_.state() == QProcess::NotRunning) return;
    proc_.terminate();
    if (!proc_.waitForFinished(15000)) {
      proc_.kill();
      proc_.waitForFinished(5000);
    }
  }

  int port() const { return port_; }
  qint64 pid() const { return proc_.processId(); }
  QProcess& process() { return proc_; }

  // Resident set size in KiB (VmRSS), 0 when unknown.
  long rss_kib() const {
    std::ifstream in("/proc/" + std::to_string(pid()) + "/status");
    for (std::string line; std::getline(in, line);)
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return 0;
  }

 private:
  QProcess proc_;
  int port_ = 0;
};

// A connected TCP socket to 127.0.0.1:port with a receive timeout; closes itself.
class RawSocket {
 public:
  explicit RawSocket(int port, int recv_timeout_ms = 10000) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    timeval tv{recv_timeout_ms / 1000, (recv_timeout_ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawSocket() { close(); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool ok() const { return fd_ >= 0; }
  bool send_all(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }
  // Reads until the peer closes, the timeout passes, or `stop_at` appears; returns what came.
  // `error`: the errno of a failed read (EAGAIN: the timeout passed; ECONNRESET: a reset).
  std::string read_until(const std::string& stop_at = {}, bool* closed = nullptr, int* error = nullptr) {
    std::string got;
    char buf[4096];
    while (true) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0) {
        if (closed) *closed = true;
        return got;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {  // timeout or reset
        if (error) *error = errno;
        return got;
      }
      got.append(buf, static_cast<size_t>(n));
      if (!stop_at.empty() && got.find(stop_at) != std::string::npos) return got;
    }
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

}  // namespace hearth::test
