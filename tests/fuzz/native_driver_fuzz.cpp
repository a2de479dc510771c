// libFuzzer target for the native driver: whatever arrives on the wire, the
// decoder returns a message or a rejection, never crashes, never reads out of
// bounds (built with ASan + UBSan).
//
// Input: "<topic>\n<payload>". Without a newline the whole input is the
// payload for one of the three real topic shapes, chosen by its first byte.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "drivers/native/native_driver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto driver = communegw::make_native_driver(communegw::driver_settings{"native", true, {}});
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  static constexpr std::string_view topics[] = {"commune/c/env/e-1/telemetry", "commune/c/streetlight/s-1/status",
                                                "commune/c/camera/cam-1/event"};
  std::string_view topic, payload;
  if (const auto newline = input.find('\n'); newline != std::string_view::npos) {
    topic = input.substr(0, newline);
    payload = input.substr(newline + 1);
  } else {
    topic = topics[size == 0 ? 0 : data[0] % 3];
    payload = input;
  }
  const auto result = driver->decode(topic, payload);
  if (const auto* message = std::get_if<communegw::decoded_message>(&result)) {
    // Every reading the decoder lets through is in its metric's plausible range.
    for (const auto& reading : message->readings) {
      if (reading.value < reading.metric->min || reading.value > reading.metric->max) __builtin_trap();
    }
  }
  return 0;
}
