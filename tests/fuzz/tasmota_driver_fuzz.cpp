// libFuzzer target for the Tasmota driver: whatever arrives, the decoder
// returns a message or a rejection, never crashes, never reads out of bounds
// (ASan + UBSan).
#include "drivers/tasmota/tasmota_driver.hpp"
#include "tests/fuzz/driver_fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // With time_offset set, so that Time is parsed too.
  static auto driver = [] {
    communegw::driver_settings settings{"tasmota", true, {"tele/+/+"}};
    settings.texts["time_offset"] = "+07:00";
    return communegw::make_tasmota_driver(settings);
  }();
  static constexpr std::string_view topics[] = {"tele/tram-khi-tuong/SENSOR", "tele/tasmota_5C8A3F/STATE",
                                                "tele/tasmota_5C8A3F/LWT"};
  const auto [topic, payload] = communegw::fuzz::split_input(data, size, topics);
  communegw::fuzz::check_result(driver->decode(topic, payload));
  return 0;
}
