#pragma once
// Durations and sizes with units, parsed once at start-up. "abc" is an error,
// never a zero.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace communegw {

// "250ms", "30s", "5m", "1h", "7d"
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
// "512MiB", "64KiB", "2GiB", "100MB", "4096B"
std::optional<std::uint64_t> parse_size(std::string_view text);

std::string format_duration(std::chrono::milliseconds value);
std::string format_size(std::uint64_t bytes);

}  // namespace communegw
