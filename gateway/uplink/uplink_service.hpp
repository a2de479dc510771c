#pragma once
// Aggregation and the uplink to the central programme server, on their own
// thread with their own store connection, so neither the ingest path nor the
// store writer ever waits for the network.
//
// Every second it folds new messages into aggregates, queues new events,
// closed aggregate windows and (every uplink.health_interval) a health record
// into the outbox, and publishes outbox batches to the central broker at QoS 1,
// alarms first, then health, aggregates newest first, then events, paced by
// uplink.max_rate and uplink.monthly_budget. A batch leaves the outbox only
// when its PUBACK arrives. Reconnects are ours: capped, jittered, endless.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <mqtt/async_client.h>

#include "gateway/aggregate/aggregator.hpp"
#include "gateway/clock/clock.hpp"
#include "gateway/config/config.hpp"
#include "gateway/log/rate_limited_log.hpp"
#include "gateway/mqtt/backoff.hpp"
#include "gateway/store/restamp.hpp"
#include "gateway/store/sqlite.hpp"
#include "gateway/uplink/drain_meter.hpp"
#include "gateway/uplink/outbox.hpp"

namespace communegw {

struct uplink_stats {
  std::atomic<bool> connected{false};
  std::atomic<std::uint64_t> connects{0};
  std::atomic<std::uint64_t> connect_failures{0};
  std::atomic<std::uint64_t> batches_acknowledged{0};
  std::atomic<std::uint64_t> records_acknowledged{0};
  std::atomic<std::uint64_t> wire_bytes_acknowledged{0};
  std::atomic<std::uint64_t> publish_refused{0};  // Paho refused a publish (back-pressure, not connected)
  std::atomic<std::uint64_t> batches_refused{0};  // the central broker refused a batch (MQTT 5 PUBACK reason)
  std::atomic<std::uint64_t> backlog_records{0};  // at the last tick
  std::atomic<std::uint64_t> fold_errors{0};
  std::atomic<std::uint64_t> restamped{0};  // messages and events re-stamped once the clock was trusted
  std::atomic<bool> budget_exhausted{false};
};

class uplink_service {
 public:
  // health_fields: extra JSON members (without braces) for the health record,
  // e.g. the ingest counters; called on the service thread.
  uplink_service(const config& cfg, clock& time_source, std::function<std::string()> health_fields);
  ~uplink_service();
  uplink_service(const uplink_service&) = delete;
  uplink_service& operator=(const uplink_service&) = delete;

  void start();
  // Publishes a retained "offline" status if connected, disconnects, joins the thread.
  void stop();
  const uplink_stats& stats() const { return stats_; }

 private:
  struct batch {
    uplink_stream stream;
    std::vector<std::int64_t> seqs;
    std::size_t wire_bytes;
    std::uint64_t connection;  // which connection it was published on
  };
  class delivery_listener;

  void tick();
  void schedule_tick(std::chrono::milliseconds delay);
  void pump();
  bool publish_next(uplink_stream stream);
  void connect();
  void schedule_reconnect();
  void on_connected();
  void on_connection_lost(const std::string& cause);
  void on_delivered(std::uint64_t batch_id, bool ok, int reason_code);
  std::string health_record(std::int64_t now_ms);
  void refill_rate_budget();

  config cfg_;
  clock& clock_;
  std::function<std::string()> health_fields_;
  std::string raw_metrics_json_;  // uplink.raw_metrics as a JSON array, empty when none
  sqlite::database db_;
  restamper restamper_;
  aggregator aggregator_;
  std::optional<outbox> outbox_;  // with the uplink only: its statements cost ~1M instructions to prepare
  boost::asio::io_context io_;
  boost::asio::steady_timer tick_timer_;
  boost::asio::steady_timer reconnect_timer_;
  std::unique_ptr<mqtt::async_client> client_;
  mqtt::connect_options connect_options_;
  std::shared_ptr<mqtt::iaction_listener> connect_listener_;
  backoff backoff_;
  rate_limited_log failure_log_{std::chrono::seconds(60)};
  // Why connecting fails, found by repeating the connection step by step
  // (connection_diagnosis.hpp); at most once per diagnosis_interval.
  static constexpr std::chrono::minutes diagnosis_interval{1};
  std::chrono::steady_clock::time_point next_diagnosis_{};
  std::string last_diagnosis_;
  rate_limited_log store_log_{std::chrono::seconds(60)};

  std::map<std::uint64_t, batch> in_flight_;
  std::map<std::uint64_t, std::shared_ptr<delivery_listener>> listeners_;
  std::array<std::unordered_set<std::int64_t>, all_uplink_streams.size()> in_flight_seqs_;
  std::uint64_t next_batch_id_ = 1;
  std::uint64_t connection_ = 0;  // incremented on every connect
  bool connected_ = false;        // as seen on the service thread
  double rate_tokens_ = 0;        // bytes we may send now under uplink.max_rate
  std::chrono::steady_clock::time_point rate_refilled_{};
  std::int64_t month_bytes_ = 0;  // this month's acknowledged bytes, cached
  std::chrono::steady_clock::time_point next_health_{};
  std::chrono::steady_clock::time_point next_fold_{};
  bool fold_caught_up_ = true;
  drain_meter drain_meter_;
  // A stream whose batch the central broker refused waits until then.
  std::array<std::chrono::steady_clock::time_point, all_uplink_streams.size()> paused_until_{};
  std::chrono::steady_clock::time_point started_{};

  uplink_stats stats_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace communegw
