#pragma once
// Overflow-safe arithmetic for sizes read from untrusted input. Each helper returns false when
// the exact result does not fit, so callers can say which value was bad.
#include <cstdint>
#include <type_traits>

namespace hearth {

template <typename T>
[[nodiscard]] constexpr bool checked_add(T a, T b, T& out) {
  static_assert(std::is_integral_v<T>);
  return !__builtin_add_overflow(a, b, &out);
}

template <typename T>
[[nodiscard]] constexpr bool checked_mul(T a, T b, T& out) {
  static_assert(std::is_integral_v<T>);
  return !__builtin_mul_overflow(a, b, &out);
}

// Rounds `value` up to a multiple of `alignment` (a power of two); false on overflow.
[[nodiscard]] constexpr bool checked_align_up(uint64_t value, uint64_t alignment, uint64_t& out) {
  uint64_t bumped = 0;
  if (!checked_add(value, alignment - 1, bumped)) return false;
  out = bumped & ~(alignment - 1);
  return true;
}

}  // namespace hearth
