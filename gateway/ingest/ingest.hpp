#pragma once
// Ingest: one MQTT message in, one received_message out. Checks the size,
// routes the topic to the driver whose filters match, decodes, and names the
// message for deduplication. Pure, so it is tested without a broker.
//
// Threading: accept() is called from one thread only, the store writer's
// (drivers keep per-instance state; inbound_message.hpp says why not the MQTT
// callback's); the counters may be read from any thread.

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "drivers/driver.hpp"
#include "gateway/clock/clock.hpp"
#include "gateway/config/config.hpp"
#include "gateway/log/rate_limited_log.hpp"
#include "gateway/model/inbound_message.hpp"
#include "gateway/model/received_message.hpp"
#include "gateway/registry/device_registry.hpp"

namespace communegw {

struct ingest_counters {
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> accepted{0};
  std::array<std::atomic<std::uint64_t>, reject_reason_count> rejected{};
  std::atomic<std::uint64_t> field_rejections{0};
  // Accepted messages that give the store nothing, by reason (why_ignored).
  std::array<std::atomic<std::uint64_t>, ignore_reason_count> ignored{};
  std::atomic<std::uint64_t> driver_exceptions{0};
};

class ingest {
 public:
  // A driver with the topic filters routed to it.
  struct routed_driver {
    std::unique_ptr<driver> target;
    std::vector<std::string> filters;
  };

  // The drivers the config enables. `identities`: the store's scheme
  // (store::message_identity_scheme()). `registry`: the device registry the
  // drivers consult and every decoded message is completed from; it must
  // outlive this ingest. Null: no registry.
  ingest(const config& cfg, clock& time_source, identity_scheme identities = newest_identity_scheme,
         const device_registry* registry = nullptr);
  // Drivers given directly (tests).
  ingest(std::vector<routed_driver> drivers, std::uint64_t max_payload, clock& time_source,
         identity_scheme identities = newest_identity_scheme, const device_registry* registry = nullptr);

  // MQTT thread, before the message is queued: a payload over mqtt.max_payload
  // will be refused unread, so only the excerpt the quarantine keeps is passed
  // on, with the number of bytes left out (inbound_message.hpp).
  void trim_oversized(inbound_message& message) const;

  // Decodes and stamps one message into `out`, a fresh received_message (the
  // writer's batch slot: no move of the result). Only its topic may hold
  // something, a spare string whose capacity is reused; it is overwritten.
  void accept(const inbound_message& message, received_message& out);
  received_message accept(const inbound_message& message) {
    received_message out;
    accept(message, out);
    return out;
  }
  // The same for a message received now (tests, tools).
  received_message accept(std::string_view topic, std::string_view payload, delivery_flags flags = {}) {
    return accept(inbound_message{.topic = topic, .payload = payload, .received = clock_.now(), .flags = flags});
  }

  // Topic filters of every enabled driver, for subscribing.
  std::vector<std::string> topic_filters() const;
  const ingest_counters& counters() const { return counters_; }

 private:
  struct route {
    std::string filter;
    driver* target;
  };
  std::vector<std::unique_ptr<driver>> drivers_;
  std::vector<route> routes_;
  clock& clock_;
  std::uint64_t max_payload_;
  identity_scheme identities_;
  const device_registry* registry_;  // null or empty: nothing to apply
  ingest_counters counters_;
  // A driver that throws on one device's payloads would otherwise log every message.
  rate_limited_log driver_bug_log_{std::chrono::seconds(30)};
};

// MQTT topic filter matching ('+' one level, '#' the rest), per MQTT 3.1.1 §4.7.
bool topic_matches(std::string_view filter, std::string_view topic);

}  // namespace communegw
