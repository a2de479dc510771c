#pragma once
// The gateway's session at the commune's local broker: Paho async client,
// fixed client id, clean session off, QoS 1 subscriptions renewed on every
// connect, reconnect with capped backoff that never gives up.
//
// Threading: the message sink runs on Paho's callback thread and may block
// (that is the back-pressure path, see ingest_queue). Connection management
// runs on the given io_context; nothing here blocks that thread.

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <mqtt/async_client.h>

#include "gateway/config/config.hpp"
#include "gateway/model/inbound_message.hpp"
#include "gateway/log/rate_limited_log.hpp"
#include "gateway/mqtt/backoff.hpp"

namespace communegw {

struct subscriber_stats {
  std::atomic<bool> connected{false};
  std::atomic<std::uint64_t> connects{0};
  std::atomic<std::uint64_t> connect_failures{0};
  std::atomic<std::uint64_t> connection_losses{0};
};

class broker_subscriber {
 public:
  // Gets each message as a view of Paho's message object, valid during the call (inbound_message.hpp).
  using message_sink = std::function<void(const inbound_message& message)>;

  broker_subscriber(const mqtt_settings& settings, std::vector<std::string> filters, boost::asio::io_context& io,
                    message_sink sink);
  ~broker_subscriber();

  void start();
  // Disconnects cleanly (waits up to a few seconds); no reconnect afterwards.
  void stop();
  const subscriber_stats& stats() const { return stats_; }

 private:
  void connect();
  void schedule_reconnect();
  void subscribe();

  mqtt_settings settings_;
  std::vector<std::string> filters_;
  boost::asio::io_context& io_;
  boost::asio::steady_timer reconnect_timer_;
  message_sink sink_;
  std::unique_ptr<mqtt::async_client> client_;
  mqtt::connect_options options_;
  backoff backoff_;
  rate_limited_log failure_log_{std::chrono::seconds(60)};
  subscriber_stats stats_;
  class subscribe_result final : public mqtt::iaction_listener {
   public:
    explicit subscribe_result(const std::vector<std::string>& filters);
    void on_success(const mqtt::token& tok) override;
    void on_failure(const mqtt::token& tok) override;

   private:
    const std::vector<std::string>& filters_;
  };
  subscribe_result subscribe_listener_;
  std::shared_ptr<mqtt::iaction_listener> pending_listener_;  // kept alive for the attempt in flight
  std::atomic<bool> stopping_{false};
  // Connection losses in the last takeover_window (io_ thread): a session
  // taken over by another client with the same id shows as repeated losses.
  void note_connection_loss();
  static constexpr std::chrono::seconds takeover_window{60};
  static constexpr std::size_t takeover_losses = 3;
  std::deque<std::chrono::steady_clock::time_point> recent_losses_;
};

// mqtt:// and mqtts:// as Paho spells them (tcp://, ssl://).
std::string normalised_uri(const std::string& uri);

// Builds client and connect options (protocol version, session, auth, TLS)
// from settings; shared with the uplink and `check`.
mqtt::create_options make_create_options(const mqtt_settings& settings);
mqtt::connect_options make_connect_options(const mqtt_settings& settings, bool clean_session);

// Explains a failed connect token in words an operator can act on: `code` is
// Paho's return code (3.1.1 CONNACK codes), `reason_code` an MQTT 5 reason code (0 if none).
std::string describe_connect_failure(int code, int reason_code, const std::string& message);
// An MQTT 5 reason code >= 0x80 in words.
std::string describe_reason_code(int reason_code);

// Connects once with a throw-away client id and disconnects. Empty string on
// success, else the reason. Used by `communegw check`.
std::string probe_broker(const mqtt_settings& settings);

}  // namespace communegw
