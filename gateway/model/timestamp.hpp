#pragma once
// Parsing of device timestamps into Unix milliseconds. Pure functions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace communegw {

// RFC 3339 / ISO 8601 with a mandatory offset: 2026-11-23T18:05:00+07:00,
// 2026-11-23T11:05:00.250Z. Local times without an offset are refused: a
// device that does not say which zone it means cannot be trusted to be right.
std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text);

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day);

// "2026-11-23T11:05:00.250Z"
std::string format_rfc3339_ms(std::int64_t unix_ms);

}  // namespace communegw
