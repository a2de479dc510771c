#pragma once
// Deliberately bad messages, the kind a commune network really produces: a
// truncated packet from a flaky radio link, a firmware that sends strings,
// a stuck sensor reporting 1e9, a device configured with the wrong topic,
// line noise, a camera dumping a log into its event topic.
//
// Each kind states what the gateway is expected to do with it, so a run's
// summary can be compared with `communegw query counters`.

#include <random>
#include <string_view>

#include "tools/sim/commune.hpp"

namespace communegw {

enum class hostile_kind {
  malformed_json,      // truncated or broken JSON
  not_an_object,       // valid JSON, but an array, a number or a string
  wrong_type_field,    // one field of the wrong type ("pm2_5":"high")
  out_of_range_field,  // one field outside the plausible range (PM2.5 -5 or 1e9)
  bad_timestamp,       // "ts" neither Unix seconds nor RFC 3339 with an offset
  bad_seq,             // "seq" negative or not a number
  unknown_topic,       // a topic no driver understands (device class or message type)
  binary_garbage,      // bytes that are not UTF-8 text
  oversized,           // far larger than mqtt.max_payload (64 KiB by default)
  count_               // keep last
};
inline constexpr std::size_t hostile_kind_count = static_cast<std::size_t>(hostile_kind::count_);
std::string_view to_string(hostile_kind kind);

struct hostile_expectation {
  bool message_stored;           // the rest of the message is still stored (a field-level rejection)
  std::string_view reject_reason;  // the gateway's rejection reason (counter "rejected.<reason>")
};
hostile_expectation expected_outcome(hostile_kind kind, message_class cls);

hostile_kind pick_hostile_kind(std::mt19937_64& rng);

// Turns `valid` (a message just generated for a device of its class) into a
// bad message of `kind`. The device's "seq" was already taken by `valid`.
sim_message make_hostile(sim_message valid, hostile_kind kind, std::mt19937_64& rng);

}  // namespace communegw
