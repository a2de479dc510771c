// libFuzzer target for the EPEver2MQTT driver: whatever arrives, the decoder
// returns a message or a rejection, never crashes, never reads out of bounds
// (ASan + UBSan). One driver instance for the whole run, so CONNECTION and
// fault states carry over between inputs, as in real life.
#include "drivers/epever/epever_driver.hpp"
#include "tests/fuzz/driver_fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto driver = communegw::make_epever_driver(communegw::driver_settings{"epever", true, {"EPEver/#", "solar-xa/#"}});
  static constexpr std::string_view topics[] = {"EPEver/DATA", "EPEver/EP_1/LiveData/BATT_V", "EPEver/EP_1/LiveData/CONNECTION",
                                                "EPEver/EP_2/LiveData/BATTERY_STATUS", "EPEver/Alive",
                                                "EPEver/EP_1/LiveData/BATT_STATE"};
  const auto [topic, payload] = communegw::fuzz::split_input(data, size, topics);
  communegw::fuzz::check_result(driver->decode(topic, payload));
  return 0;
}
