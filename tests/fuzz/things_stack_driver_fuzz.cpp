// libFuzzer target for The Things Stack v3 driver: whatever arrives, the decoder returns a
// message or a rejection, never crashes, never reads out of bounds (ASan +
// UBSan). The driver is configured as its fixtures are (tests/data/things_stack/driver.toml),
// so configured pointers and the built-in codec names are both exercised.
#include "drivers/lorawan/things_stack_driver.hpp"
#include "tests/fuzz/configured_driver.hpp"
#include "tests/fuzz/driver_fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto driver = communegw::make_things_stack_driver(communegw::fuzz::configured_driver("things_stack"));
  static constexpr std::string_view topics[] = {"v3/moi-truong-xa@ttn/devices/aq-cho/up", "v3/moi-truong-xa@ttn/devices/ul2030-07/up", "v3/moi-truong-xa@ttn/devices/aq-cho/join"};
  const auto [topic, payload] = communegw::fuzz::split_input(data, size, topics);
  communegw::fuzz::check_result(driver->decode(topic, payload));
  return 0;
}
