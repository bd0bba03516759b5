// libFuzzer target for the GGUF reader. Any input must either parse or throw hearth::FormatError;
// anything else (another exception, a sanitizer report, a timeout) is a bug. A file that parses
// must also survive the round trip through GgufWriter unchanged, which checks that what the
// reader accepted is self-consistent (offsets, sizes, array element types).
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/common/error.h"
#include "core/gguf/gguf_file.h"

using namespace hearth;
using namespace hearth::gguf;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// Touches every getter on every key; type mismatches must be FormatErrors, never worse.
void exercise_getters(const GgufFile& file) {
  for (const auto& [key, value] : file.metadata()) {
    try { (void)file.get_uint(key); } catch (const FormatError&) {}
    try { (void)file.get_int(key); } catch (const FormatError&) {}
    try { (void)file.get_float(key); } catch (const FormatError&) {}
    try { (void)file.get_bool(key); } catch (const FormatError&) {}
    try { (void)file.get_string(key); } catch (const FormatError&) {}
    try { (void)file.get_string_array(key); } catch (const FormatError&) {}
    try { (void)file.get_float_array(key); } catch (const FormatError&) {}
    try { (void)file.get_int_array(key); } catch (const FormatError&) {}
    check(file.find(key) == &value);
  }
}

// Reads every byte of every tensor (ASan reports any byte outside the buffer).
uint64_t touch_tensors(const GgufFile& file) {
  uint64_t sum = 0;
  for (const TensorInfo& t : file.tensors()) {
    const auto data = file.tensor_data(t);
    check(data.size() == t.n_bytes);
    for (uint8_t b : data) sum += b;
    check(file.find_tensor(t.name) == &t);
  }
  return sum;
}

void round_trip(const GgufFile& file, uint64_t checksum) {
  GgufWriter writer(file.alignment());
  for (const auto& [key, value] : file.metadata()) writer.set(key, value);
  for (const TensorInfo& t : file.tensors()) writer.add_tensor(t.name, t.type, t.dims, file.tensor_data(t));
  GgufFile again = GgufFile::from_bytes(writer.write_to_bytes());
  check(again.metadata().size() == file.metadata().size());
  check(again.tensors().size() == file.tensors().size());
  check(touch_tensors(again) == checksum);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    GgufFile file = GgufFile::from_bytes(std::vector<uint8_t>(data, data + size));
    exercise_getters(file);
    const uint64_t checksum = touch_tensors(file);
    round_trip(file, checksum);
  } catch (const FormatError&) {
    // Expected for malformed input.
  }
  return 0;
}
