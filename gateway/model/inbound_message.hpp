#pragma once
// One MQTT message as it came off the wire, before any decoding: what
// broker_subscriber hands its sink. `communegw run` stamps the receive time
// and queues it for the store writer thread, which decodes it there.
//
// Why decoding is not on the callback thread: Paho C acknowledges a QoS 1
// message when the callback returns and reads the socket on that same thread,
// so everything the callback does delays the next read and the next PUBACK.
// The callback only stamps the receive time and queues the message.
//
// A view: `topic` and `payload` belong to the MQTT client's message and are
// valid only during the sink call. The ingest queue copies them into a buffer
// of its own (ingest_queue.hpp says why Paho's message must be freed on
// Paho's thread), except a large payload, whose message it keeps instead
// (`owner`): a fourth copy of a 16 MiB payload is what broke the memory bound.

#include <memory>
#include <string_view>

#include "gateway/clock/clock.hpp"
#include "gateway/model/received_message.hpp"

namespace communegw {

// A payload over this size is large: the queue keeps its MQTT message instead
// of copying it, counts it against its byte bound, and the driver that decoded
// it gives back its buffers (driver::release_memory). Device payloads are a
// few hundred bytes; large ones are bridge device lists, snapshots, hostile input.
inline constexpr std::size_t large_payload_bytes = 64 * 1024;

struct inbound_message {
  std::string_view topic;
  std::string_view payload;
  // Bytes of the payload as received that `payload` leaves out. A payload over
  // mqtt.max_payload is refused unread, so only its first bytes (what the
  // quarantine keeps) are queued (ingest::trim_oversized): copying a faulty
  // client's megabytes into the queue would only double them in memory.
  std::size_t payload_bytes_left_out = 0;
  // When the gateway received it: stamped by the sink on arrival (not by the
  // subscriber, which has no clock), never when decoded.
  time_stamp received;
  delivery_flags flags;
  // For a payload over large_payload_bytes: what keeps `payload`
  // alive (the MQTT client's message), so the queue need not copy it. Null
  // otherwise: small payloads are copied.
  std::shared_ptr<const void> owner = nullptr;
};

}  // namespace communegw
