#include "gateway/config/quantity.hpp"

#include <array>
#include <charconv>
#include <utility>

#include <fmt/format.h>

namespace communegw {
namespace {

// Splits "512MiB" into 512 and "MiB". The number must be a non-negative
// integer: fractional sizes and durations are ambiguous on a config line.
std::optional<std::pair<std::uint64_t, std::string_view>> split_number(std::string_view text) {
  std::uint64_t number = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, number);
  if (ec != std::errc{} || ptr == text.data()) return std::nullopt;
  return std::pair{number, std::string_view(ptr, static_cast<std::size_t>(end - ptr))};
}

template <std::size_t N>
std::optional<std::uint64_t> scale(std::string_view text,
                                   const std::array<std::pair<std::string_view, std::uint64_t>, N>& units) {
  const auto split = split_number(text);
  if (!split) return std::nullopt;
  for (const auto& [suffix, factor] : units) {
    if (split->second == suffix) {
      if (split->first > UINT64_MAX / factor) return std::nullopt;
      return split->first * factor;
    }
  }
  return std::nullopt;
}

// "min" is read as well as "m"; "m" is what format_duration writes (the
// units are tried from the end).
constexpr std::array<std::pair<std::string_view, std::uint64_t>, 6> duration_units{
    {{"min", 60'000}, {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}}};
constexpr std::array<std::pair<std::string_view, std::uint64_t>, 7> size_units{{{"B", 1},
                                                                                 {"KiB", 1ull << 10},
                                                                                 {"MiB", 1ull << 20},
                                                                                 {"GiB", 1ull << 30},
                                                                                 {"KB", 1000},
                                                                                 {"MB", 1000'000},
                                                                                 {"GB", 1000'000'000}}};

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  const auto ms = scale(text, duration_units);
  if (!ms || *ms > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(*ms));
}

std::optional<std::uint64_t> parse_size(std::string_view text) { return scale(text, size_units); }

std::string format_duration(std::chrono::milliseconds value) {
  const auto ms = static_cast<std::uint64_t>(value.count());
  for (auto it = duration_units.rbegin(); it != duration_units.rend(); ++it) {
    if (ms != 0 && ms % it->second == 0) return fmt::format("{}{}", ms / it->second, it->first);
  }
  return fmt::format("{}ms", ms);
}

std::string format_size(std::uint64_t bytes) {
  for (const auto& [suffix, factor] : {std::pair<std::string_view, std::uint64_t>{"GiB", 1ull << 30},
                                       {"MiB", 1ull << 20},
                                       {"KiB", 1ull << 10}}) {
    if (bytes != 0 && bytes % factor == 0) return fmt::format("{}{}", bytes / factor, suffix);
  }
  return fmt::format("{}B", bytes);
}

}  // namespace communegw
