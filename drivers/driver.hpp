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
#include <string_view>

#include "gateway/config/config.hpp"
#include "gateway/model/record.hpp"

namespace communegw {

class driver {
 public:
  virtual ~driver() = default;
  virtual decode_result decode(std::string_view topic, std::string_view payload) = 0;
};

// How a driver declares itself: one value, listed by hand in drivers/registry.cpp.
struct driver_descriptor {
  std::string_view name;     // config section [driver.<name>]
  std::string_view summary;  // one line for `communegw describe drivers` and the example config
  std::span<const std::string_view> default_topics;  // MQTT topic filters
  bool enabled_by_default;
  std::unique_ptr<driver> (*make)(const driver_settings& settings);
};

}  // namespace communegw
