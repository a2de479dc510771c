// libFuzzer target for the Zigbee2MQTT driver: whatever arrives, the decoder
// returns a message or a rejection, never crashes, never reads out of bounds
// (ASan + UBSan). One driver instance for the whole run, so bridge/devices and
// bridge/info inputs change how later device messages decode, as in real life.
#include "drivers/zigbee2mqtt/zigbee2mqtt_driver.hpp"
#include "tests/fuzz/driver_fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto driver = communegw::make_zigbee2mqtt_driver(
      communegw::driver_settings{"zigbee2mqtt", true, {"zigbee2mqtt/#", "z2m_v1/#"}});
  static constexpr std::string_view topics[] = {"zigbee2mqtt/Phòng họp/nhiệt độ", "zigbee2mqtt/bridge/devices",
                                                "zigbee2mqtt/lux-sensor/availability", "zigbee2mqtt/bridge/info",
                                                "z2m_v1/motion 1", "zigbee2mqtt/bridge/state"};
  const auto [topic, payload] = communegw::fuzz::split_input(data, size, topics);
  communegw::fuzz::check_result(driver->decode(topic, payload));
  return 0;
}
