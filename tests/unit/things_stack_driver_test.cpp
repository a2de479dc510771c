#include <doctest/doctest.h>

#include "drivers/lorawan/things_stack_driver.hpp"
#include "tests/unit/driver_fixtures.hpp"

using namespace communegw;

namespace {

using test::ok;

}  // namespace

TEST_CASE("things_stack fixtures decode to their expected results") {
  auto driver = make_things_stack_driver(test::fixture_settings("things_stack"));
  const auto [normal, hostile] = test::check_driver_fixtures("things_stack", *driver);
  CHECK(normal >= 10);
  CHECK(hostile >= 15);
}

TEST_CASE("things_stack: device ids include the application, frames keep their identity across metadata") {
  auto driver = make_things_stack_driver(test::fixture_settings("things_stack"));
  const auto a = ok(driver->decode("v3/app-a@ttn/devices/node-1/up",
                                   R"({"uplink_message":{"f_cnt":3,"frm_payload":"AQ==","decoded_payload":{"humidity":40},"rx_metadata":[{"rssi":-70,"snr":9}]}})"));
  const auto a_again = ok(driver->decode("v3/app-a@ttn/devices/node-1/up",
                                         R"({"received_at":"2026-11-23T11:05:01Z","uplink_message":{"f_cnt":3,"frm_payload":"AQ==","decoded_payload":{"humidity":40},"rx_metadata":[{"rssi":-75,"snr":2}]}})"));
  const auto b = ok(driver->decode("v3/app-b@ttn/devices/node-1/up",
                                   R"({"uplink_message":{"f_cnt":3,"frm_payload":"AQ==","decoded_payload":{"humidity":40}}})"));
  CHECK(a.device_id == "tts/app-a@ttn/node-1");
  CHECK(b.device_id == "tts/app-b@ttn/node-1");
  CHECK(a.identity == a_again.identity);
  CHECK(a.identity != b.identity);
}
