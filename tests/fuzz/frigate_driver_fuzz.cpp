// libFuzzer target for the Frigate driver: whatever arrives, the decoder
// returns a message or a rejection, never crashes, never reads out of bounds
// (ASan + UBSan), and every event's attributes are a JSON object.
#include "drivers/frigate/frigate_driver.hpp"
#include "tests/fuzz/driver_fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto driver = communegw::make_frigate_driver(communegw::driver_settings{"frigate", true, {"frigate/#"}});
  static constexpr std::string_view topics[] = {"frigate/events", "frigate/reviews", "frigate/cong_truong/person",
                                                "frigate/cong_truong/person/snapshot", "frigate/available"};
  const auto [topic, payload] = communegw::fuzz::split_input(data, size, topics);
  communegw::fuzz::check_result(driver->decode(topic, payload));
  return 0;
}
