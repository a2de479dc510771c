#include <doctest/doctest.h>

#include "drivers/zigbee2mqtt/zigbee2mqtt_driver.hpp"
#include "tests/unit/driver_fixtures.hpp"

using namespace communegw;

namespace {

// Two bridges: "zigbee2mqtt" runs 2.x, "z2m_v1" runs 1.x (see the bridge/info fixtures).
driver_settings two_bridges() {
  driver_settings settings{"zigbee2mqtt", true, {"zigbee2mqtt/#", "z2m_v1/#"}};
  settings.texts["device_kind"] = "environment";
  return settings;
}

using test::ok;

}  // namespace

TEST_CASE("zigbee2mqtt fixtures decode to their expected results") {
  auto driver = make_zigbee2mqtt_driver(two_bridges());
  const auto [normal, hostile] = test::check_driver_fixtures("zigbee2mqtt", *driver);
  CHECK(normal >= 20);
  CHECK(hostile >= 15);
}

TEST_CASE("zigbee2mqtt: illuminance is lux on a 2.x bridge, raw ZCL on 1.x, unknown before either is known") {
  auto driver = make_zigbee2mqtt_driver(two_bridges());
  // Nothing known yet: say so rather than guess.
  auto unknown = ok(driver->decode("zigbee2mqtt/hall", R"({"illuminance":320})"));
  CHECK(unknown.readings.empty());
  REQUIRE(unknown.field_rejections.size() == 1);
  CHECK(unknown.field_rejections[0].reason == reject_reason::unknown_value);
  ok(driver->decode("zigbee2mqtt/bridge/info", R"({"version":"2.0.0"})"));
  auto lux = ok(driver->decode("zigbee2mqtt/hall", R"({"illuminance":320})"));
  REQUIRE(lux.readings.size() == 1);
  CHECK(lux.readings[0].value == doctest::Approx(320));
  // A 1.x bridge does not make another base's devices lux.
  ok(driver->decode("z2m_v1/bridge/info", R"({"version":"1.42.0"})"));
  CHECK(ok(driver->decode("z2m_v1/hall", R"({"illuminance":320})")).readings.empty());
}

TEST_CASE("zigbee2mqtt: a malformed bridge/devices keeps the metadata learnt before") {
  auto driver = make_zigbee2mqtt_driver(two_bridges());
  ok(driver->decode("zigbee2mqtt/bridge/devices",
                    R"([{"friendly_name":"plug","definition":{"exposes":[{"type":"numeric","property":"voltage","unit":"V"}]}}])"));
  const auto reason_for = [&](std::string_view payload) {
    const auto result = driver->decode("zigbee2mqtt/bridge/devices", payload);
    REQUIRE(std::holds_alternative<rejection>(result));
    return std::get<rejection>(result).reason;
  };
  CHECK(reason_for(R"([{"friendly_name":"plug",)") == reject_reason::malformed_json);
  CHECK(reason_for("[]\xff\xfe") == reject_reason::binary_payload);
  CHECK(reason_for(R"([] [])") == reject_reason::malformed_json);  // trailing content
  CHECK(reason_for(R"("devices")") == reject_reason::wrong_type);
  const auto m = ok(driver->decode("zigbee2mqtt/plug", R"({"voltage":231})"));
  REQUIRE(m.readings.size() == 1);
  CHECK(m.readings[0].metric->name == "voltage");
}

TEST_CASE("zigbee2mqtt: device_kind streetlight stores a relay's state as lamp_on") {
  auto settings = two_bridges();
  settings.texts["device_kind"] = "streetlight";
  auto driver = make_zigbee2mqtt_driver(settings);
  const auto m = ok(driver->decode("zigbee2mqtt/relay 7", R"({"state":"ON"})"));
  CHECK(m.kind == device_kind::streetlight);
  REQUIRE(m.readings.size() == 1);
  CHECK(m.readings[0].metric->name == "lamp_on");
}
