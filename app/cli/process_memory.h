#pragma once
// Memory use of this process, for `bench`.
#include <cstdint>

namespace hearth::cli {

// Resident and peak resident memory, bytes (0 where unknown).
uint64_t resident_bytes();
uint64_t peak_resident_bytes();

}  // namespace hearth::cli
