#include <doctest/doctest.h>

#include "drivers/esphome/esphome_driver.hpp"
#include "tests/unit/driver_fixtures.hpp"

using namespace communegw;

namespace {

driver_settings esphome_settings() {
  driver_settings settings{"esphome", true, {"+/sensor/+/state", "+/status", "homeassistant/#"}};
  settings.lists["sensors"] = {"soil_probe = soil_moisture %", "bom_nuoc = switch_on", "water_temp = temperature",
                               "den_sang = lamp_on"};
  settings.texts["discovery_prefix"] = "homeassistant";
  settings.texts["device_kind"] = "environment";
  return settings;
}

using test::ok;

}  // namespace

TEST_CASE("esphome fixtures decode to their expected results") {
  auto driver = make_esphome_driver(esphome_settings());
  const auto [normal, hostile] = test::check_driver_fixtures("esphome", *driver);
  CHECK(normal >= 20);
  CHECK(hostile >= 15);
}

TEST_CASE("esphome: the unit comes from discovery when the node sends it, else from config") {
  auto settings = esphome_settings();
  settings.lists["sensors"] = {"outside = temperature °F"};
  auto driver = make_esphome_driver(settings);
  // Before any discovery message: the configured °F.
  CHECK(ok(driver->decode("n/sensor/outside/state", "50")).readings.at(0).value == doctest::Approx(10.0));
  const auto m = ok(driver->decode("n/sensor/outside/state", "212"));
  REQUIRE(m.readings.empty());  // 212 °F = 100 °C: outside the plausible air temperature
  REQUIRE(m.field_rejections.size() == 1);
  CHECK(m.field_rejections[0].reason == reject_reason::out_of_range);
  // The node's discovery says °C: that is what it sends.
  ok(driver->decode("homeassistant/sensor/n/outside/config", R"({"unit_of_meas":"°C","stat_t":"n/sensor/outside/state"})"));
  CHECK(ok(driver->decode("n/sensor/outside/state", "50")).readings.at(0).value == doctest::Approx(50.0));
  // Home Assistant's "unavailable" is an unknown value, never 0, and counted.
  const auto unavailable = ok(driver->decode("n/sensor/outside/state", "unavailable"));
  CHECK(unavailable.readings.empty());
  REQUIRE(unavailable.field_rejections.size() == 1);
  CHECK(unavailable.field_rejections[0].reason == reject_reason::no_value);
}

TEST_CASE("esphome: the sensors option check names what is wrong") {
  CHECK(check_esphome_sensor_mapping("soil = soil_moisture %").empty());
  CHECK(check_esphome_sensor_mapping("soil=soil_moisture").empty());
  CHECK(check_esphome_sensor_mapping("soil soil_moisture") == "\"soil soil_moisture\" must be \"<object_id> = <metric> [<unit>]\"");
  CHECK(check_esphome_sensor_mapping("soil = wetness %") == "\"soil = wetness %\": unknown metric \"wetness\" (see docs/metrics.md)");
  CHECK(check_esphome_sensor_mapping("t = temperature furlong") ==
        "\"t = temperature furlong\": unit \"furlong\" cannot be converted to °C");
  CHECK(check_esphome_sensor_mapping("Soil = soil_moisture") ==
        "\"Soil = soil_moisture\": object id \"Soil\" may hold only a-z, 0-9, '_' and '-'");
  CHECK(check_esphome_sensor_mapping("relay = switch_on V") == "\"relay = switch_on V\": unit \"V\" cannot be converted to bool");
}
