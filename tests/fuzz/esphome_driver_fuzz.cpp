// libFuzzer target for the ESPHome driver: whatever arrives, the decoder
// returns a message or a rejection, never crashes, never reads out of bounds
// (ASan + UBSan). One driver instance for the whole run, so discovery inputs
// change how later state messages decode, as in real life.
#include "drivers/esphome/esphome_driver.hpp"
#include "tests/fuzz/driver_fuzz_input.hpp"

namespace {

communegw::driver_settings fuzz_settings() {
  communegw::driver_settings settings{"esphome", true, {"+/sensor/+/state", "+/status", "homeassistant/#"}};
  settings.lists["sensors"] = {"soil_probe = soil_moisture %", "bom_nuoc = switch_on", "water_temp = temperature"};
  return settings;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto driver = communegw::make_esphome_driver(fuzz_settings());
  static constexpr std::string_view topics[] = {"tram-xa/sensor/nhiet_do/state", "homeassistant/sensor/tram-xa/nhiet_do/config",
                                                "den-cong/light/den/state", "vuon/sensor/soil_probe/state",
                                                "tram-xa/status", "vuon/switch/bom_nuoc/state"};
  const auto [topic, payload] = communegw::fuzz::split_input(data, size, topics);
  communegw::fuzz::check_result(driver->decode(topic, payload));
  return 0;
}
