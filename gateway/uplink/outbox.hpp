#pragma once
// The uplink outbox: records waiting to reach the central programme server,
// in the store, per stream, each with a gap-free sequence number.
//
// Producers move data in from the store in transactions that also advance
// their cursor, so a record is queued exactly once however the gateway stops.
// A record leaves the outbox only when the central broker has acknowledged
// the MQTT message that carried it (acknowledge()); until then a restart
// sends it again and the centre drops the copy by (gateway, stream, seq).
//
// Threading: one instance per connection, used from one thread.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "gateway/config/config.hpp"
#include "gateway/store/cursors.hpp"
#include "gateway/store/sqlite.hpp"

namespace communegw {

// In priority order: a lower value is always sent first.
enum class uplink_stream : std::uint8_t { alarms = 0, health = 1, aggregates = 2, events = 3, raw = 4 };
inline constexpr std::array all_uplink_streams{uplink_stream::alarms, uplink_stream::health, uplink_stream::aggregates,
                                               uplink_stream::events, uplink_stream::raw};
std::string_view to_string(uplink_stream stream);
std::optional<uplink_stream> parse_uplink_stream(std::string_view name);

struct outbox_record {
  std::int64_t seq = 0;
  std::string body;  // one JSON object, without its seq (the wire encoder adds it)
};

struct stream_backlog {
  std::int64_t records = 0;
  std::int64_t bytes = 0;            // uncompressed record bytes
  std::optional<std::int64_t> oldest_ms;  // when the oldest waiting record was queued
  std::int64_t sent = 0;             // records acknowledged since the store was created
  std::int64_t next_seq = 1;
};

// The last drain rate the uplink measured, and when (wall ms).
struct drain_rate {
  double records_per_s = 0;
  std::int64_t measured_ms = 0;
};
inline constexpr std::string_view drain_rate_cursor = "uplink.drain_millirecords_per_s";
inline constexpr std::string_view drain_measured_cursor = "uplink.drain_measured_ms";
// Reads it from a store (any connection, read-only is enough); none before the first measurement.
std::optional<drain_rate> read_drain_rate(sqlite::database& db);

struct feed_result {
  int status = SQLITE_OK;
  std::size_t queued = 0;
};

class outbox {
 public:
  outbox(sqlite::database& db, const aggregate_settings& aggregate);

  // Queues events not queued yet (alarms to their own stream), oldest first.
  // An incident (an event the store updates in place) is queued when it is
  // closed or has been open for aggregate.incident_timeout; each later change
  // queues it again as a new record with a higher "revision".
  feed_result feed_events(std::int64_t limit, std::int64_t now_ms);
  // Queues a new revision of every closed aggregate window that changed. A
  // revision still waiting in the outbox is replaced in place (same seq), so a
  // window that keeps changing before it is sent goes up once; one in
  // `in_flight` (being sent) is left alone and the new revision queued after it.
  feed_result feed_aggregates(std::int64_t limit, std::int64_t now_ms,
                              const std::unordered_set<std::int64_t>& in_flight = {});
  // Queues the readings of `metrics` (a JSON array of metric names) from
  // messages not queued yet. The first call starts at the newest message:
  // enabling raw readings does not send the store's history.
  feed_result feed_raw(std::string_view metrics_json, std::int64_t limit, std::int64_t now_ms);
  // Drops every unsent raw record (the budget cannot carry them), counted in shed_uplink.raw.
  feed_result shed_raw();
  // Queues one record with a body the caller built (the health stream).
  feed_result enqueue(uplink_stream stream, std::string_view body, std::int64_t now_ms);

  // Up to max_records / max_bytes waiting records of one stream, oldest first
  // or newest first, skipping sequence numbers in `skip` (in flight).
  std::vector<outbox_record> peek(uplink_stream stream, bool newest_first, const std::unordered_set<std::int64_t>& skip,
                                  std::size_t max_records, std::size_t max_bytes);
  // The central broker acknowledged these: remove them, count them and the
  // bytes that carried them against this month's budget.
  int acknowledge(uplink_stream stream, std::span<const std::int64_t> seqs, std::int64_t wire_bytes, std::int64_t now_ms);

  std::array<stream_backlog, all_uplink_streams.size()> backlog();
  std::int64_t bytes_sent_in_month(std::int64_t now_ms);
  // Keeps the uplink's latest measured drain rate (gateway/uplink/drain_meter.hpp)
  // for `communegw check` and `query uplink`, which run in other processes.
  int record_drain_rate(double records_per_s, std::int64_t now_ms);  // SQLITE_OK on success

 private:
  int insert(uplink_stream stream, std::string_view body, std::int64_t now_ms);

  sqlite::database& db_;
  aggregate_settings aggregate_;
  cursors cursors_;
  sqlite::statement insert_, replace_, read_events_, read_incidents_, mark_queued_, read_raw_, changed_windows_, window_stats_, device_, bump_window_, peek_oldest_,
      peek_newest_, delete_, add_usage_, month_usage_;
  std::string body_;  // reused buffer
};

// "YYYY-MM" (UTC) of a Unix ms time: the key of the monthly budget.
std::string month_key(std::int64_t unix_ms);

}  // namespace communegw
