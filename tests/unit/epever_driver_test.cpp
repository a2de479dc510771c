#include <doctest/doctest.h>

#include "drivers/epever/epever_driver.hpp"
#include "tests/unit/driver_fixtures.hpp"

using namespace communegw;

namespace {

driver_settings epever_settings() { return driver_settings{"epever", true, {"EPEver/#", "solar-xa/#"}}; }

using test::ok;

}  // namespace

TEST_CASE("epever fixtures decode to their expected results") {
  auto driver = make_epever_driver(epever_settings());
  const auto [normal, hostile] = test::check_driver_fixtures("epever", *driver);
  CHECK(normal >= 20);
  CHECK(hostile >= 20);
}

TEST_CASE("epever: a fault repeated in every report is one event, its end one more") {
  auto driver = make_epever_driver(epever_settings());
  const std::string topic = "EPEver/EP_1/LiveData/BATT_STATE";
  CHECK(ok(driver->decode(topic, "Low Volt Disconnect")).events.size() == 1);
  for (int i = 0; i < 5; ++i) CHECK(ok(driver->decode(topic, "Low Volt Disconnect")).events.empty());
  const auto cleared = ok(driver->decode(topic, "Normal"));
  REQUIRE(cleared.events.size() == 1);
  CHECK(cleared.events[0].kind == "lamp_fault_cleared");
  // Another source of the same controller does not clear this one's faults.
  CHECK(ok(driver->decode(topic, "Overvolt")).events.size() == 1);
  CHECK(ok(driver->decode("EPEver/EP_1/LiveData/BATT_TEMP_STATE", "Normal")).events.empty());
}

TEST_CASE("epever: per-value values of a controller the bridge cannot read are refused until CONNECTION is 0 again") {
  auto driver = make_epever_driver(epever_settings());
  CHECK(ok(driver->decode("EPEver/EP_3/LiveData/CONNECTION", "3")).reported_availability == availability::offline);
  const auto refused = ok(driver->decode("EPEver/EP_3/LiveData/BATT_SOC", "0"));
  CHECK(refused.readings.empty());
  REQUIRE(refused.field_rejections.size() == 1);
  CHECK(refused.field_rejections[0].reason == reject_reason::device_error);
  // Another controller on the same bridge is not affected.
  CHECK(ok(driver->decode("EPEver/EP_4/LiveData/BATT_SOC", "50")).readings.size() == 1);
  CHECK(ok(driver->decode("EPEver/EP_3/LiveData/CONNECTION", "0")).reported_availability == availability::online);
  CHECK(ok(driver->decode("EPEver/EP_3/LiveData/BATT_SOC", "61")).readings.size() == 1);
}

TEST_CASE("epever: a controller with two PV inputs reports the totals as the panel's, in both modes") {
  auto driver = make_epever_driver(epever_settings());
  const auto json = ok(driver->decode(
      "EPEver/DATA", R"({"EP_2":{"LiveData":{"CONNECTION":0,"SOLAR_W":70,"SOLAR_TOTAL_W":140,"SOLAR_A":2,"SOLAR_TOTAL_A":4}}})"));
  REQUIRE(json.other_devices.size() == 1);
  std::map<std::string, double> values;
  for (const auto& r : json.other_devices[0].readings) values[std::string(r.metric->name)] = r.value;
  CHECK(values["pv_power"] == 140);
  CHECK(values["pv_current"] == 4);
  // Per-value: once a controller has sent a total, its SOLAR_W is the first input only.
  CHECK(ok(driver->decode("EPEver/EP_7/LiveData/SOLAR_W", "70")).readings.size() == 1);
  CHECK(ok(driver->decode("EPEver/EP_7/LiveData/SOLAR_TOTAL_W", "140")).readings.size() == 1);
  CHECK(ok(driver->decode("EPEver/EP_7/LiveData/SOLAR_W", "70")).readings.empty());
}
