#include "core/server/client_connection.h"

#ifdef _WIN32
// Windows (MinGW cross-build): there is no /proc/self/fd to find httplib's sockets in, so a request
// never finds its connection (a hung-up client's non-streaming generation runs to its end) and the
// listen backlog stays httplib's.
namespace hearth::server {
ClientConnection::ClientConnection(const httplib::Request&) {}
bool ClientConnection::gone() const { return false; }
bool raise_listen_backlog(int, int) { return false; }
}  // namespace hearth::server
#else

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

namespace hearth::server {

namespace {

int port_of(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return -1;
}

// Calls fn(fd) for every descriptor this process has open (from /proc/self/fd); httplib 0.11 does
// not hand out its sockets, so they are found by their addresses.
template <class Fn>
void for_each_open_fd(Fn&& fn) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return;
  while (const dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd < 0 || fd == ::dirfd(dir)) continue;
    fn(static_cast<int>(fd));
  }
  ::closedir(dir);
}

}  // namespace

ClientConnection::ClientConnection(const httplib::Request& req) {
  if (req.remote_port <= 0 || req.local_port <= 0) return;
  int match = -1, matches = 0;
  for_each_open_fd([&](int fd) {
    sockaddr_storage peer{}, local{};
    socklen_t peer_len = sizeof peer, local_len = sizeof local;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) return;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) return;
    if (port_of(peer) == req.remote_port && port_of(local) == req.local_port) {
      match = fd;
      ++matches;
    }
  });
  if (matches == 1) fd_ = match;
}

bool ClientConnection::gone() const {
  if (fd_ < 0) return false;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;  // nothing to read: still there
  if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return true;
  char byte;
  const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;  // orderly close
  return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

bool raise_listen_backlog(int port, int backlog) {
  bool raised = false;
  for_each_open_fd([&](int fd) {
    int listening = 0;
    socklen_t len = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) return;
    sockaddr_storage local{};
    socklen_t local_len = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0 || port_of(local) != port) return;
    raised = ::listen(fd, backlog) == 0 || raised;
  });
  return raised;
}

}  // namespace hearth::server
#endif  // _WIN32
