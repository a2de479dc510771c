#pragma once
// The driver contract. A driver is a small decoder: it turns one MQTT message
// (topic, payload) into canonical records (decoded_message) or a precise
// rejection. It does no I/O, owns no thread and touches no global state, so
// it can be tested with two strings.
//
// Threading: the ingest path calls decode() from a single thread (the MQTT
// callback thread), so an instance may keep per-instance state between calls
// (parser buffers, alias tables). decode() must not block and must not throw:
// every bad input becomes a rejection. A throw is treated as a driver bug: the
// message is quarantined with reason malformed_json and the bug logged.

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "gateway/config/config.hpp"
#include "gateway/model/record.hpp"

namespace communegw {

class driver {
 public:
  virtual ~driver() = default;
  virtual decode_result decode(std::string_view topic, std::string_view payload) = 0;
};

// An option of one driver, under [driver.<name>]. Declared by the driver in
// its descriptor; the config option table takes it in, so validation, the
// example config and `describe config` cover it like every other key.
enum class driver_option_kind { text, choice, text_list };

struct driver_option {
  std::string_view key;           // e.g. "device_kind"
  driver_option_kind kind;
  std::string_view default_text;  // TOML literal
  std::string_view description;
  std::span<const std::string_view> choices = {};  // for choice
  // Checks one text value or one list item at start-up; returns an error
  // message (shown as file:line: key: message) or an empty string when valid.
  std::string (*check)(std::string_view value) = nullptr;
};

// How a driver declares itself: one value, listed by hand in drivers/registry.cpp.
struct driver_descriptor {
  std::string_view name;     // config section [driver.<name>]
  std::string_view summary;  // one line for `communegw describe drivers` and the example config
  std::span<const std::string_view> default_topics;  // MQTT topic filters
  bool enabled_by_default;
  std::unique_ptr<driver> (*make)(const driver_settings& settings);
  std::span<const driver_option> options = {};
};

}  // namespace communegw
