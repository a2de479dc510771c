#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <string>

#include "drivers/device_name.hpp"
#include "drivers/units.hpp"
#include "gateway/model/metric_catalogue.hpp"

using namespace communegw;

namespace {

double convert(std::string_view metric, std::string_view unit, double value) {
  const auto converted = to_canonical_unit(*find_metric(metric), unit, value);
  REQUIRE(converted.has_value());
  return *converted;
}

}  // namespace

TEST_CASE("device units convert into the catalogue's canonical units") {
  CHECK(convert("temperature", "°F", 212) == doctest::Approx(100));
  CHECK(convert("temperature", "F", 32) == doctest::Approx(0));
  CHECK(convert("temperature", "K", 273.15) == doctest::Approx(0));
  CHECK(convert("pressure", "mmHg", 760) == doctest::Approx(1013.25).epsilon(1e-4));
  CHECK(convert("pressure", "inHg", 29.92) == doctest::Approx(1013.2).epsilon(1e-3));
  CHECK(convert("pressure", "Pa", 101325) == doctest::Approx(1013.25));
  CHECK(convert("battery_voltage", "mV", 2985) == doctest::Approx(2.985));
  CHECK(convert("energy", "Wh", 1500) == doctest::Approx(1.5));
  CHECK(convert("pm2_5", "μg/m³", 12) == 12);  // Greek mu
  CHECK(convert("pm2_5", "µg/m³", 12) == 12);  // micro sign
  CHECK(convert("voc", "ppm", 0.15) == doctest::Approx(150));
}

TEST_CASE("an unknown unit or one that measures something else is refused, not guessed") {
  CHECK_FALSE(to_canonical_unit(*find_metric("temperature"), "", 20));
  CHECK_FALSE(to_canonical_unit(*find_metric("temperature"), "hPa", 20));
  CHECK_FALSE(to_canonical_unit(*find_metric("voc"), "µg/m³", 20));  // needs the gas's molar mass
  CHECK_FALSE(to_canonical_unit(*find_metric("pressure"), "psi", 14.7));
}

TEST_CASE("raw ZCL illuminance is 10000 log10(lux) + 1") {
  CHECK(zcl_illuminance_to_lux(30001) == doctest::Approx(1000));
  CHECK(zcl_illuminance_to_lux(1) == doctest::Approx(1));
  CHECK(zcl_illuminance_to_lux(0) == 0);
}

TEST_CASE("device ids from topics are trimmed, bounded on a character boundary and refused when unusable") {
  CHECK(normalise_device_id("z/", "  Phòng họp/nhiệt độ \t") == "z/Phòng họp/nhiệt độ");
  const std::string long_name(200, 'a');
  CHECK(normalise_device_id("z/", long_name)->size() == max_device_id_bytes);
  // "đ" is 2 bytes: a cut inside it moves back to the character's start.
  const auto cut = normalise_device_id("z/", std::string(125, 'a') + "đđ");
  REQUIRE(cut);
  CHECK(cut->size() == 127);
  CHECK_FALSE(normalise_device_id("z/", "   "));
  CHECK_FALSE(normalise_device_id("z/", "bad\x01name"));
  CHECK_FALSE(normalise_device_id("z/", "wild+card"));
  CHECK_FALSE(normalise_device_id("z/", std::string("\xc3\x28", 2)));  // invalid UTF-8
}

TEST_CASE("find_metric finds every catalogue entry by its own name, and nothing else") {
  for (const auto& metric : metric_catalogue()) {
    CAPTURE(metric.name);
    CHECK(find_metric(metric.name) == &metric);
    // Prefixes, extensions and other cases are other names: found only if the
    // catalogue has them (pm1 is a prefix of pm10).
    auto upper = std::string(metric.name);
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (const std::string& other : {std::string(metric.name.substr(0, metric.name.size() - 1)), std::string(metric.name) + "_", upper}) {
      CAPTURE(other);
      const bool listed = std::any_of(metric_catalogue().begin(), metric_catalogue().end(),
                                      [&](const metric_info& m) { return m.name == other; });
      const auto* found = find_metric(other);
      CHECK((found != nullptr) == listed);
      if (found) CHECK(found->name == other);
    }
  }
  CHECK(find_metric("") == nullptr);
  CHECK(find_metric(std::string_view("pm2_5\0", 6)) == nullptr);
}
