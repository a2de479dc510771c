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
// The bytes are not copied: `owner` keeps whatever holds them (Paho's message
// object) alive until the message has been decoded.

#include <memory>
#include <string>
#include <string_view>

#include "gateway/clock/clock.hpp"
#include "gateway/model/received_message.hpp"

namespace communegw {

struct inbound_message {
  std::shared_ptr<const void> owner;  // keeps `topic` and `payload` valid
  std::string_view topic;
  std::string_view payload;
  // When the gateway received it: stamped by the sink on arrival (not by the
  // subscriber, which has no clock), never when decoded.
  time_stamp received;
  delivery_flags flags;

  // A message that owns copies of its bytes (tests, tools).
  static inbound_message copy_of(std::string_view topic, std::string_view payload, time_stamp received,
                                 delivery_flags flags = {}) {
    struct bytes {
      std::string topic;
      std::string payload;
    };
    auto held = std::make_shared<const bytes>(bytes{std::string(topic), std::string(payload)});
    inbound_message message;
    message.topic = held->topic;
    message.payload = held->payload;
    message.owner = std::move(held);
    message.received = received;
    message.flags = flags;
    return message;
  }
};

}  // namespace communegw
