// JSON text writing: numbers must read back as the same double, in the form
// fmt's "{}" writes (the store's readings column is compared and parsed by SQL).
#include <doctest/doctest.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include <fmt/format.h>

#include "gateway/model/json_text.hpp"

using namespace communegw;

namespace {

std::string written(double value) {
  std::string out = "x";  // appends, never replaces
  append_json_number(out, value);
  return out.substr(1);
}

double read_back(const std::string& text) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  REQUIRE(error == std::errc());
  REQUIRE(end == text.data() + text.size());
  return value;
}

void check_number(double value) {
  CAPTURE(value);
  const auto text = written(value);
  CHECK(text == fmt::format("{}", value));
  CHECK(read_back(text) == value);
  CHECK(std::signbit(read_back(text)) == std::signbit(value));
}

}  // namespace

TEST_CASE("JSON numbers: sensor values with up to three decimals are written as fmt writes them") {
  for (const double value : {0.0, -0.0, 1.0, -1.0, 0.2, 0.1, 0.3, 1.35, 27.25, 35.5, -12.125, 81.0, 0.001, -0.001, 0.005,
                             0.05, 0.999, 1000.0, 12.84, 3.3, 100.1, 2985.0, 1008.6, 999999999999.999, -999999999999.999,
                             1e11, 123456789.123}) {
    check_number(value);
  }
}

TEST_CASE("JSON numbers: values outside the three-decimal form fall back to the general shortest form") {
  for (const double value : {0.0001, 1e-7, 0.1234, 1.0 / 3.0, 2.0 / 3.0, 1e12, 1e15, 1e16, 1.5e300, -2.5e-300,
                             std::numeric_limits<double>::min(), std::numeric_limits<double>::denorm_min(),
                             std::numeric_limits<double>::max(), std::nextafter(0.2, 1.0), std::nextafter(0.2, 0.0),
                             std::nextafter(27.25, 100.0), 9007199254740993.0, 4503599627370497.5}) {
    check_number(value);
  }
}

TEST_CASE("JSON numbers: random values of every kind read back exactly") {
  std::mt19937_64 rng(20261123);
  std::uniform_int_distribution<std::int64_t> thousandths(-2'000'000'000'000, 2'000'000'000'000);
  std::uniform_int_distribution<std::uint64_t> bits;
  for (int i = 0; i < 200'000; ++i) {
    // k / 1000 exactly as a decimal would be parsed, its neighbours, and arbitrary bit patterns.
    const double decimal = static_cast<double>(thousandths(rng) >> (i % 40)) / 1000.0;
    const double neighbour = std::nextafter(decimal, (i & 1) ? 1e300 : -1e300);
    double arbitrary = 0;
    const auto pattern = bits(rng);
    static_assert(sizeof arbitrary == sizeof pattern);
    std::memcpy(&arbitrary, &pattern, sizeof arbitrary);
    for (const double value : {decimal, neighbour, arbitrary}) {
      if (!std::isfinite(value)) continue;
      const auto text = written(value);
      if (text != fmt::format("{}", value) || read_back(text) != value) {
        CAPTURE(value);
        CAPTURE(text);
        FAIL("written differently from fmt, or does not read back");
      }
    }
  }
}
