#pragma once
// The socket of the connection a request came in on, so a handler that waits (a non-streaming
// generation) can notice that the client hung up and cancel its work. cpp-httplib 0.11 (Debian 12)
// does not hand the socket to handlers, so it is found among this process's descriptors by the
// request's local and remote ports; the handler owns the connection while it runs, so the
// descriptor stays valid for that long.
#include <httplib.h>

namespace hearth::server {

class ClientConnection {
 public:
  // Not found (or ambiguous): gone() is always false.
  explicit ClientConnection(const httplib::Request& req);
  // The peer closed or reset the connection. A client that sent its next request early (pipelining)
  // is not gone: unread bytes are only peeked at.
  bool gone() const;
  bool found() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// cpp-httplib 0.11 listens with a backlog of 5: a burst of more simultaneous connects than that
// overflows the accept queue, and the kernel drops handshakes (clients wait 1 s and more for a
// retransmit, or get a reset when the queue stays full). listen() again on the bound socket,
// found by its port, raises the backlog. Returns false when the socket is not found.
bool raise_listen_backlog(int port, int backlog);

}  // namespace hearth::server
