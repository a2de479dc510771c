#pragma once
// Unaligned little-endian loads from a byte buffer, for hashes that read a
// word at a time. memcpy: the board may not allow unaligned word access (ARMv6,
// some armhf cores), and the compiler turns it into one load where it does.

#include <bit>
#include <cstdint>
#include <cstring>

namespace communegw {

inline std::uint64_t load_le64(const char* p) {
  std::uint64_t value;
  std::memcpy(&value, p, sizeof value);
  if constexpr (std::endian::native == std::endian::big) value = __builtin_bswap64(value);
  return value;
}

inline std::uint32_t load_le32(const char* p) {
  std::uint32_t value;
  std::memcpy(&value, p, sizeof value);
  if constexpr (std::endian::native == std::endian::big) value = __builtin_bswap32(value);
  return value;
}

}  // namespace communegw
