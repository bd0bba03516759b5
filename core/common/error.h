#pragma once
// Errors inside core/ are exceptions carrying a message a user can act on ("tensor 'blk.3.attn_q.weight':
// data ends past the end of the file"). They are caught at the edges: the CLI prints them and exits
// non-zero, the engine turns them into an error event on the request. Kernels never throw; they
// return an error code which the caller converts with check_kernel().
#include <stdexcept>
#include <string>

namespace hearth {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A file or a socket gave us something malformed.
class FormatError : public Error {
 public:
  using Error::Error;
};

}  // namespace hearth
