// libFuzzer target for the generic JSON mapping driver: whatever arrives, the decoder returns a
// message or a rejection, never crashes, never reads out of bounds (ASan +
// UBSan). The driver is configured as its fixtures are (tests/data/json_mapping/driver.toml),
// so configured pointers and the built-in codec names are both exercised.
#include "drivers/json_mapping/json_mapping_driver.hpp"
#include "tests/fuzz/configured_driver.hpp"
#include "tests/fuzz/driver_fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto driver = communegw::make_json_mapping_driver(communegw::fuzz::configured_driver("json_mapping"));
  static constexpr std::string_view topics[] = {"sensors/tram-xa/telemetry", "lights/xa-01/den-07/state", "meters/dong-ho-01", "sensors/x/status"};
  const auto [topic, payload] = communegw::fuzz::split_input(data, size, topics);
  communegw::fuzz::check_result(driver->decode(topic, payload));
  return 0;
}
