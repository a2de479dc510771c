#include <doctest/doctest.h>

#include "drivers/lorawan/chirpstack_driver.hpp"
#include "tests/unit/driver_fixtures.hpp"

using namespace communegw;

namespace {

using test::ok;

const std::string topic = "application/0b4d7c6e/device/24e124128c147204/event/up";

}  // namespace

TEST_CASE("chirpstack fixtures decode to their expected results") {
  auto driver = make_chirpstack_driver(test::fixture_settings("chirpstack"));
  const auto [normal, hostile] = test::check_driver_fixtures("chirpstack", *driver);
  CHECK(normal >= 12);
  CHECK(hostile >= 15);
}

TEST_CASE("chirpstack: one frame has one identity, whatever gateways heard it") {
  auto driver = make_chirpstack_driver(test::fixture_settings("chirpstack"));
  const auto one_gateway = ok(driver->decode(
      topic, R"({"fCnt":7,"fPort":2,"data":"AQI=","object":{"humidity":50},"rxInfo":[{"rssi":-90,"snr":5}]})"));
  const auto two_gateways = ok(driver->decode(
      topic, R"({"fCnt":7,"fPort":2,"data":"AQI=","object":{"humidity":50},"rxInfo":[{"rssi":-90,"snr":5},{"rssi":-80,"snr":8}]})"));
  const auto next_frame = ok(driver->decode(
      topic, R"({"fCnt":8,"fPort":2,"data":"AQI=","object":{"humidity":50},"rxInfo":[{"rssi":-90,"snr":5}]})"));
  const auto counter_reset_other_data = ok(driver->decode(
      topic, R"({"fCnt":7,"fPort":2,"data":"AQM=","object":{"humidity":51},"rxInfo":[{"rssi":-90,"snr":5}]})"));
  CHECK(one_gateway.identity != 0);
  CHECK(one_gateway.identity == two_gateways.identity);
  CHECK(one_gateway.identity != next_frame.identity);
  CHECK(one_gateway.identity != counter_reset_other_data.identity);
  // The best gateway is the one with the best SNR.
  REQUIRE(two_gateways.readings.size() == 3);
  CHECK(two_gateways.readings[1].metric->name == "rssi");
  CHECK(two_gateways.readings[1].value == -80);
}

TEST_CASE("chirpstack: codec_mapping = none reads only the configured fields") {
  auto settings = test::fixture_settings("chirpstack");
  settings.texts["codec_mapping"] = "none";
  auto driver = make_chirpstack_driver(settings);
  const auto m = ok(driver->decode(topic, R"({"fCnt":1,"object":{"temperature":20,"TempC_SHT":21.5}})"));
  REQUIRE(m.readings.size() == 1);
  CHECK(m.readings[0].metric->name == "temperature");
  CHECK(m.readings[0].value == 21.5);
}
