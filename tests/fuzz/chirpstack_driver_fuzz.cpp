// libFuzzer target for the ChirpStack v4 driver: whatever arrives, the decoder returns a
// message or a rejection, never crashes, never reads out of bounds (ASan +
// UBSan). The driver is configured as its fixtures are (tests/data/chirpstack/driver.toml),
// so configured pointers and the built-in codec names are both exercised.
#include "drivers/lorawan/chirpstack_driver.hpp"
#include "tests/fuzz/configured_driver.hpp"
#include "tests/fuzz/driver_fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto driver = communegw::make_chirpstack_driver(communegw::fuzz::configured_driver("chirpstack"));
  static constexpr std::string_view topics[] = {"application/0b4d7c6e/device/24e124128c147204/event/up", "application/0b4d7c6e/device/24e124128c147204/event/status", "application/0b4d7c6e/device/24e124128c147204/event/log", "application/0b4d7c6e/device/24e124128c147204/event/join"};
  const auto [topic, payload] = communegw::fuzz::split_input(data, size, topics);
  communegw::fuzz::check_result(driver->decode(topic, payload));
  return 0;
}
