// `communegw run`: wires the data flow
//   broker_subscriber (Paho thread: stamp) -> ingest_queue
//   -> store_writer (writer thread: ingest decodes) -> store
// and runs the control loop (signals, stats) on the main thread's io_context.
#include <csignal>
#include <cstdlib>
#include <deque>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "gateway/cli/commands.hpp"
#include "gateway/ingest/ingest.hpp"
#include "gateway/ingest/ingest_queue.hpp"
#include "gateway/log/logging.hpp"
#include "gateway/mqtt/broker_subscriber.hpp"
#include "gateway/registry/registry_import.hpp"
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

// Accepted messages that gave the store nothing, all reasons.
std::uint64_t ignored_messages(const ingest_counters& counters) {
  std::uint64_t total = 0;
  for (const auto& count : counters.ignored) total += count.load(std::memory_order_relaxed);
  return total;
}

// The same by reason, as a JSON object for the health record.
std::string ignored_by_reason_json(const ingest_counters& counters) {
  std::string out = "{";
  for (std::size_t i = 0; i < ignore_reason_count; ++i) {
    out += fmt::format("{}\"{}\":{}", i == 0 ? "" : ",", to_string(static_cast<ignore_reason>(i)),
                       counters.ignored[i].load(std::memory_order_relaxed));
  }
  return out + "}";
}

// SD-card wear as the stats line reports it: bytes written per day, averaged
// over the last hour (or since start, when shorter). A rate taken over one
// stats interval extrapolated a few seconds of burst (start-up, a WAL
// checkpoint) to a day and looked alarming.
class write_rate_window {
 public:
  static constexpr std::chrono::hours span{1};
  void add(std::chrono::steady_clock::time_point at, std::uint64_t written_bytes) {
    samples_.emplace_back(at, written_bytes);
    while (samples_.size() > 2 && at - samples_[1].first >= span) samples_.pop_front();
  }
  // Bytes per day over the window, and the window's length.
  std::pair<double, std::chrono::seconds> per_day() const {
    if (samples_.size() < 2) return {0.0, std::chrono::seconds(0)};
    const auto& [first_at, first_bytes] = samples_.front();
    const auto& [last_at, last_bytes] = samples_.back();
    const double seconds = std::chrono::duration<double>(last_at - first_at).count();
    if (seconds <= 0) return {0.0, std::chrono::seconds(0)};
    return {static_cast<double>(last_bytes - first_bytes) / seconds * 86400.0,
            std::chrono::duration_cast<std::chrono::seconds>(last_at - first_at)};
  }

 private:
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> samples_;
};

std::string format_span(std::chrono::seconds span) {
  if (span.count() >= 3600) return fmt::format("{} h", span.count() / 3600);
  if (span.count() >= 60) return fmt::format("{} min", span.count() / 60);
  return fmt::format("{} s", span.count());
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
  const device_registry registry(cfg.devices, load_imported_devices(db.database()));
  if (!registry.empty()) spdlog::info("registry: {} devices ({} from the config)", registry.all().size(), cfg.devices.size());
  ingest decoder(cfg, clock, db.message_identity_scheme(), &registry);
  store_writer writer(db, queue, decoder, cfg.store);
  writer.start();

  // Aggregation always runs (local windows); the uplink only when enabled.
  uplink_service uplink(cfg, clock, [&] {
    const auto& in = decoder.counters();
    const auto& out = writer.stats();
    return fmt::format("\"ingest\":{{\"received\":{},\"accepted\":{},\"rejected\":{},\"field_rejections\":{},"
                       "\"ignored\":{},\"stored\":{},\"duplicates\":{},\"store_writable\":{},\"shed\":{}}},"
                       "\"disk_write_bytes\":{}",
                       in.received.load(), in.accepted.load(), rejected_messages(in), in.field_rejections.load(),
                       ignored_by_reason_json(in), out.stored.load(), out.duplicates.load(), out.store_writable.load(),
                       out.shed.load(), process_write_bytes().value_or(0));
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
  write_rate_window disk_writes;
  disk_writes.add(std::chrono::steady_clock::now(), process_write_bytes().value_or(0));
  std::function<void()> schedule_stats = [&] {
    if (cfg.log.stats_interval.count() == 0) return;
    stats_timer.expires_after(cfg.log.stats_interval);
    stats_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      const auto& in = decoder.counters();
      const auto& out = writer.stats();
      disk_writes.add(std::chrono::steady_clock::now(), process_write_bytes().value_or(0));
      const auto [per_day, over] = disk_writes.per_day();
      spdlog::info("ingest: received {} accepted {} rejected {} (+{} fields) ignored {} | stored {} duplicates {} | "
                   "uncommitted {} in write {} | mqtt {} | store {} | disk writes {:.1f} MiB/day (average over {})",
                   in.received.load(), in.accepted.load(), rejected_messages(in), in.field_rejections.load(),
                   ignored_messages(in), out.stored.load(), out.duplicates.load(), queue.uncommitted(),
                   out.pending.load(), subscriber.stats().connected ? "connected" : "disconnected",
                   out.store_writable ? "ok" : "NOT WRITABLE", per_day / (1 << 20), format_span(over));
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
