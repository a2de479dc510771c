#pragma once
// The hand-off between ingest and the store: one MQTT message after decoding,
// stamped with when and how the gateway received it.

#include <string>

#include "gateway/clock/clock.hpp"
#include "gateway/model/record.hpp"

namespace communegw {

struct received_message {
  std::string topic;
  time_stamp received;
  bool redelivered = false;  // MQTT DUP flag: the broker may have sent it before
  decode_result result;
  // Kept only for rejected input (for the quarantine table), truncated.
  std::string payload_excerpt;
  std::size_t payload_size = 0;

  bool is_alarm() const;  // carries at least one alarm-severity event
};

inline constexpr std::size_t quarantine_excerpt_bytes = 256;

}  // namespace communegw
