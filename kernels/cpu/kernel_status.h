#pragma once
// Kernels return a status instead of throwing (DESIGN.md: no exceptions across the kernel boundary).
namespace hearth::kernels {

enum class KernelStatus : int {
  kOk = 0,
  kBadSize = 1,          // a length is not a whole number of blocks, or a dimension is <= 0
  kUnsupportedType = 2,  // no kernel for this element type
};

constexpr const char* to_string(KernelStatus s) {
  switch (s) {
    case KernelStatus::kOk: return "ok";
    case KernelStatus::kBadSize: return "size is not a whole number of blocks";
    case KernelStatus::kUnsupportedType: return "unsupported element type";
  }
  return "unknown kernel status";
}

}  // namespace hearth::kernels
