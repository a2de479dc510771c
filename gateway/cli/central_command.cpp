// `communegw central`: the reference receiver at the programme server. It
// keeps a persistent session at the central broker, stores every gateway's
// uplink records once (central_store) and prints a per-gateway summary.
#include <csignal>
#include <iostream>
#include <mutex>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include "gateway/central/central_store.hpp"
#include "gateway/cli/commands.hpp"
#include "gateway/log/logging.hpp"
#include "gateway/log/rate_limited_log.hpp"
#include "gateway/mqtt/broker_subscriber.hpp"

namespace communegw {

int run_central(const central_options& options) {
  central_store store(options.database);
  if (options.summary_only) {
    std::cout << format_central_summary(store.summary());
    return 0;
  }
  configure_logging("info");

  mqtt_settings broker;
  broker.uri = options.uri;
  broker.client_id = options.client_id;
  broker.username = options.username;
  broker.password = options.password;
  broker.ca_file = options.ca_file;
  broker.cert_file = options.cert_file;
  broker.key_file = options.key_file;
  broker.keepalive = std::chrono::seconds(30);
  broker.connect_timeout = std::chrono::seconds(10);
  broker.reconnect_min = std::chrono::milliseconds(500);
  broker.reconnect_max = std::chrono::seconds(30);

  rate_limited_log refusal_log(std::chrono::seconds(10));
  std::uint64_t stored = 0, duplicates = 0, refused = 0;
  std::mutex store_mutex;  // two MQTT sessions, one store
  boost::asio::io_context io;
  // The callback commits before it returns, and Paho acknowledges after it
  // returns (docs/durability.md): a record the broker handed over is never lost.
  auto sink = [&](const inbound_message& message) {
    std::lock_guard lock(store_mutex);
    const auto result = store.ingest(message.topic, message.payload);
    stored += result.stored;
    duplicates += result.duplicates;
    if (!result.ok) {
      ++refused;
      refusal_log.log(spdlog::level::warn, "central: refused a message on {}: {}", message.topic, result.error);
    }
  };
  // Alarms have a session of their own. A broker hands one session its
  // messages in order, so with one session a live alarm would wait behind
  // every batch of a gateway's backlog (bench/README.md, uplink benchmark).
  mqtt_settings alarm_broker = broker;
  alarm_broker.client_id += "-alarms";
  broker_subscriber alarms(alarm_broker, {"communegw/v1/+/+/+/alarms"}, io, sink);
  broker_subscriber bulk(broker,
                         {"communegw/v1/+/+/+/status", "communegw/v1/+/+/+/health", "communegw/v1/+/+/+/aggregates",
                          "communegw/v1/+/+/+/events", "communegw/v1/+/+/+/raw"},
                         io, sink);
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    alarms.stop();
    bulk.stop();
  });
  alarms.start();
  bulk.start();
  io.run();
  spdlog::info("central: stopped; stored {} records, dropped {} duplicates, refused {} messages", stored, duplicates,
               refused);
  return 0;
}

}  // namespace communegw
