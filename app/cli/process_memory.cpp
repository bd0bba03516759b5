#include "app/cli/process_memory.h"

#include <fstream>
#include <string>

namespace hearth::cli {

namespace {
// A "Key:   123 kB" line of /proc/self/status, in bytes.
uint64_t status_kb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::stoull(line.substr(key.size())) * 1024;
  }
  return 0;
}
}  // namespace

uint64_t resident_bytes() { return status_kb("VmRSS:"); }
uint64_t peak_resident_bytes() { return status_kb("VmHWM:"); }

}  // namespace hearth::cli
