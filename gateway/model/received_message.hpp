#pragma once
// The hand-off between ingest and the store: one MQTT message after decoding,
// stamped with when and how the gateway received it.

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/clock/clock.hpp"
#include "gateway/model/record.hpp"

namespace communegw {

// How the broker delivered a message (MQTT fixed-header flags).
struct delivery_flags {
  bool redelivered = false;  // DUP
  bool retained = false;     // RETAIN
};

struct received_message {
  std::string topic;
  time_stamp received;
  bool redelivered = false;  // MQTT DUP flag: the broker may have sent it before
  // MQTT retain flag: the broker's stored copy, sent on subscribing. It may be
  // old (a retained "online" outlives a device that lost power without a
  // last will), so availability learnt from it is marked unconfirmed.
  bool retained = false;
  // What makes a repeat of this message recognisable (see message_key).
  std::uint64_t identity = 0;
  // True when the identity names this message alone (it has a sequence number,
  // a device time, or a protocol key): any copy is a duplicate. False when it
  // is only the bytes: two equal payloads without either may be two real
  // readings, so a copy is dropped only when the broker says it is one (DUP),
  // or when it is the retained copy of what the store already holds as the
  // topic's newest message.
  bool identity_unique = false;
  decode_result result;
  // Kept only for rejected input (for the quarantine table), truncated.
  std::string payload_excerpt;
  std::size_t payload_size = 0;
};

inline constexpr std::size_t quarantine_excerpt_bytes = 256;

// A redelivered MQTT message is byte-identical to the first delivery, and its
// topic names the device. A device that reboots and reuses sequence number 1
// sends a different payload (time, values), so it is not mistaken for a
// duplicate. So a message's identity is a 64-bit hash of its topic and
// payload, never 0.
//
// Identities are stored (messages.identity, topics.last_identity) and compared
// with copies received after a restart, so a store keeps the scheme it was
// created with (store_settings.identity_scheme): a copy received after an
// upgrade still matches what was stored before it.
enum class identity_scheme : std::uint8_t {
  fnv1a_64 = 1,  // FNV-1a 64 over topic, a 0 byte and payload: stores created before schema 7
  xxh64 = 2,     // XXH64 of the payload seeded with XXH64 of the topic: ~3x fewer instructions
};
inline constexpr identity_scheme newest_identity_scheme = identity_scheme::xxh64;

std::uint64_t message_identity(identity_scheme scheme, std::string_view topic, std::string_view payload);

// FNV-1a: what drivers use for their protocol keys (decoded_message::identity),
// stable whatever the store's scheme.
inline std::uint64_t message_identity(std::string_view topic, std::string_view payload) {
  return message_identity(identity_scheme::fnv1a_64, topic, payload);
}

// XXH64 (xxhash.com, 0.8 spec) of `bytes` with `seed`, for any byte order.
std::uint64_t xxh64(std::string_view bytes, std::uint64_t seed);

// How ingest identifies an accepted message (received_message::identity and
// identity_unique): the driver's protocol key if it gave one, else the bytes,
// unique when the message carries a sequence number or a device time.
struct message_key {
  std::uint64_t identity = 0;
  bool unique = false;
};
message_key identify(const decoded_message& message, std::string_view topic, std::string_view payload,
                     identity_scheme scheme = newest_identity_scheme);

}  // namespace communegw
