// `communegw run`: wires the data flow
//   broker_subscriber (Paho thread: stamp) -> ingest_queue
//   -> store_writer (writer thread: ingest decodes) -> store
// and runs the control loop (signals, stats) on the main thread's io_context.
#include <csignal>
#include <cstdlib>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "gateway/cli/commands.hpp"
#include "gateway/ingest/ingest.hpp"
#include "gateway/ingest/ingest_queue.hpp"
#include "gateway/log/logging.hpp"
#include "gateway/mqtt/broker_subscriber.hpp"
#include "gateway/service/process_io.hpp"
#include "gateway/service/service_heartbeat.hpp"
#include "gateway/store/store_writer.hpp"
#include "gateway/uplink/uplink_service.hpp"

namespace communegw {
namespace {

// Whole messages refused. ingest_counters::rejected also counts refused
// fields of accepted messages, which are reported separately.
std::uint64_t rejected_messages(const ingest_counters& counters) {
  return counters.received.load(std::memory_order_relaxed) - counters.accepted.load(std::memory_order_relaxed);
}

}  // namespace

int run_gateway(const config& cfg) {
  configure_logging(cfg.log.level);
  for (const auto& warning : cfg.warnings) spdlog::warn("config: {}", warning);
  system_clock clock(cfg.clock.trust, cfg.clock.min_year);

  store db(cfg.store, clock.boot_id(), clock.now().wall_ms);
  const auto& opened = db.open_report();
  if (opened.recovered) {
    spdlog::critical("store: {} was damaged ({}); moved it aside to {} and started a fresh store. "
                     "The old file is kept for inspection.",
                     cfg.store.path.string(), opened.recovery_reason, opened.moved_aside_to);
  }
  spdlog::info("store: {} ({}, schema v{})", cfg.store.path.string(), opened.created ? "new" : "existing",
               opened.schema_version);
  if (!clock.now().trusted) {
    spdlog::warn("clock: the wall clock is not synchronised; records are marked time-untrusted until it is");
  }

  ingest_queue queue(cfg.store.max_uncommitted);
  ingest decoder(cfg, clock, db.message_identity_scheme());
  store_writer writer(db, queue, decoder, cfg.store);
  writer.start();

  // Aggregation always runs (local windows); the uplink only when enabled.
  uplink_service uplink(cfg, clock, [&] {
    const auto& in = decoder.counters();
    const auto& out = writer.stats();
    return fmt::format("\"ingest\":{{\"received\":{},\"accepted\":{},\"rejected\":{},\"field_rejections\":{},"
                       "\"stored\":{},\"duplicates\":{},\"store_writable\":{},\"shed\":{}}},\"disk_write_bytes\":{}",
                       in.received.load(), in.accepted.load(), rejected_messages(in), in.field_rejections.load(),
                       out.stored.load(), out.duplicates.load(), out.store_writable.load(), out.shed.load(),
                       process_write_bytes().value_or(0));
  });
  uplink.start();

  boost::asio::io_context io;
  // The callback only stamps and queues: decoding waits for the writer
  // thread, off the thread whose return sends the PUBACK (inbound_message.hpp).
  broker_subscriber subscriber(cfg.mqtt, decoder.topic_filters(), io,
                               [&](const inbound_message& message) {
                                 auto stamped = message;
                                 stamped.received = clock.now();
                                 decoder.trim_oversized(stamped);
                                 if (!queue.push_and_wait(stamped)) {
                                   // The store gave up at shutdown. Returning would let Paho acknowledge a
                                   // message we do not have; exiting leaves it with the broker instead.
                                   spdlog::critical("store unwritable at shutdown: exiting without acknowledging");
                                   spdlog::shutdown();
                                   std::_Exit(1);
                                 }
                               });

  boost::asio::steady_timer stats_timer(io);
  // SD-card wear: bytes written since the last stats line, as a daily rate.
  auto written_before = process_write_bytes().value_or(0);
  auto written_at = std::chrono::steady_clock::now();
  std::function<void()> schedule_stats = [&] {
    if (cfg.log.stats_interval.count() == 0) return;
    stats_timer.expires_after(cfg.log.stats_interval);
    stats_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      const auto& in = decoder.counters();
      const auto& out = writer.stats();
      const auto written = process_write_bytes().value_or(0);
      const auto now = std::chrono::steady_clock::now();
      const double seconds = std::chrono::duration<double>(now - written_at).count();
      const double per_day = seconds > 0 ? static_cast<double>(written - written_before) / seconds * 86400.0 : 0.0;
      written_before = written;
      written_at = now;
      spdlog::info("ingest: received {} accepted {} rejected {} (+{} fields) | stored {} duplicates {} | uncommitted {} "
                   "in write {} | mqtt {} | store {} | disk writes {:.1f} MiB/day at this rate",
                   in.received.load(), in.accepted.load(), rejected_messages(in), in.field_rejections.load(),
                   out.stored.load(), out.duplicates.load(),
                   queue.uncommitted(), out.pending.load(), subscriber.stats().connected ? "connected" : "disconnected",
                   out.store_writable ? "ok" : "NOT WRITABLE", per_day / (1 << 20));
      if (cfg.uplink.enabled) {
        const auto& up = uplink.stats();
        spdlog::info("uplink: {} | acknowledged {} records in {} batches ({} bytes) | backlog {} | refused by the "
                     "broker {} batches | connect failures {}{}",
                     up.connected ? "connected" : "disconnected", up.records_acknowledged.load(),
                     up.batches_acknowledged.load(), up.wire_bytes_acknowledged.load(), up.backlog_records.load(),
                     up.batches_refused.load(), up.connect_failures.load(),
                     up.budget_exhausted ? " | MONTHLY BUDGET SPENT: only alarms go" : "");
      }
      schedule_stats();
    });
  };

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal_number) {
    if (ec) return;
    spdlog::info("{}: stopping", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
    stats_timer.cancel();
    // Order matters: stop receiving first, then let the writer commit all it holds.
    subscriber.stop();
    writer.stop();
    uplink.stop();
  });

  subscriber.start();
  // systemd: READY=1 now, watchdog pings while the writer makes progress, STOPPING=1 on SIGTERM.
  service_heartbeat heartbeat(io, systemd_notifier::from_environment(), ingest_probe(queue, writer, subscriber));
  heartbeat.ready(fmt::format("ingesting from {} into {}", cfg.mqtt.uri, cfg.store.path.string()));
  schedule_stats();
  io.run();

  const auto& out = writer.stats();
  spdlog::info("stopped: received {} stored {} duplicates {} rejected {} (+{} fields) in {} commits; the MQTT thread "
               "waited for the store {} times, {} ms in all",
               decoder.counters().received.load(), out.stored.load(), out.duplicates.load(),
               rejected_messages(decoder.counters()), decoder.counters().field_rejections.load(), out.commits.load(),
               queue.held_back(), queue.held_back_time().count());
  return out.lost_at_shutdown.load() == 0 ? 0 : 1;
}

}  // namespace communegw
