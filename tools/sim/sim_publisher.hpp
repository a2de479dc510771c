#pragma once
// The simulator's MQTT side: one Paho async client that publishes as fast as
// the broker acknowledges and treats a full Paho buffer as back-pressure.
//
// Paho C++ throws mqtt::exception rc -12 (MQTTASYNC_MAX_BUFFERED_MESSAGES)
// once more than max_buffered_messages (100) publishes wait to be written.
// That is not an error: publish() then waits for the oldest delivery to
// complete and tries again. Raising the limit instead makes Paho slower (it
// scans its command list), see shared platform notes, pitfall 2.
//
// Called from one thread only (the simulator's loop); may block.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>

#include <mqtt/async_client.h>

#include "tools/sim/sim_settings.hpp"

namespace communegw {

// Connecting failed, or the broker stayed away too long while publishing.
class publish_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct publish_stats {
  std::uint64_t handed_over = 0;   // accepted by Paho
  std::uint64_t acknowledged = 0;  // QoS 1: PUBACK received; QoS 0: written to the socket
  std::uint64_t failed = 0;        // Paho reported the delivery as failed
  std::uint64_t backpressure_waits = 0;
};

class sim_publisher {
 public:
  explicit sim_publisher(const sim_settings& settings);
  ~sim_publisher();
  sim_publisher(const sim_publisher&) = delete;
  sim_publisher& operator=(const sim_publisher&) = delete;

  // Throws publish_error with the broker's answer when the connection fails.
  void connect();
  // Blocks while Paho's buffer is full. Throws publish_error if the broker is
  // unreachable for longer than the reconnect patience.
  void publish(const std::string& topic, const std::string& payload);
  // Waits until every delivery has completed or `timeout` passed; returns
  // whether all completed.
  bool drain(std::chrono::milliseconds timeout);
  void disconnect();

  const publish_stats& stats() const { return stats_; }

 private:
  void reap_completed();
  void account(const mqtt::delivery_token& token);

  const sim_settings& settings_;
  std::unique_ptr<mqtt::async_client> client_;
  std::deque<mqtt::delivery_token_ptr> pending_;  // oldest first
  publish_stats stats_;
};

}  // namespace communegw
