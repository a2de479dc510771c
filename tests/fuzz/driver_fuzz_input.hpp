#pragma once
// What every driver fuzz target shares: how an input becomes (topic, payload)
// and what must hold of every decoded result.
//
// Input: "<topic>\n<payload>" (the fixture format of tests/data/<driver>/).
// Without a newline the whole input is the payload for one of the driver's
// real topic shapes, chosen by its first byte.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

#include <simdjson.h>

#include "drivers/device_name.hpp"
#include "gateway/model/record.hpp"

namespace communegw::fuzz {

inline std::pair<std::string_view, std::string_view> split_input(const std::uint8_t* data, std::size_t size,
                                                                 std::span<const std::string_view> topics) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (const auto newline = input.find('\n'); newline != std::string_view::npos) {
    return {input.substr(0, newline), input.substr(newline + 1)};
  }
  return {topics[size == 0 ? 0 : data[0] % topics.size()], input};
}

// Traps (a libFuzzer finding) when a decoded message breaks the contract.
inline void check_message(const decoded_message& message) {
  // Device ids are bounded and valid UTF-8 (they become SQLite text and JSON).
  if (message.device_id.size() > max_device_id_bytes ||
      !simdjson::validate_utf8(message.device_id.data(), message.device_id.size())) {
    __builtin_trap();
  }
  // Every reading the decoder lets through is in its metric's plausible range.
  for (const auto& reading : message.readings) {
    if (!reading.metric || reading.value < reading.metric->min || reading.value > reading.metric->max) __builtin_trap();
  }
  // Event attributes are a JSON object (the store and the uplink embed them as they are).
  for (const auto& ev : message.events) {
    simdjson::dom::parser parser;
    simdjson::dom::object object;
    if (parser.parse(ev.attributes_json).get(object) != simdjson::SUCCESS) __builtin_trap();
    if (!simdjson::validate_utf8(ev.incident.data(), ev.incident.size())) __builtin_trap();
  }
  // Messages for several devices hold them one level deep only.
  for (const auto& other : message.other_devices) {
    if (!other.other_devices.empty()) __builtin_trap();
    check_message(other);
  }
}

inline void check_result(const decode_result& result) {
  if (const auto* message = std::get_if<decoded_message>(&result)) check_message(*message);
}

}  // namespace communegw::fuzz
