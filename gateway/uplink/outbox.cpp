#include "gateway/uplink/outbox.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>

#include <fmt/format.h>

#include "gateway/model/json_text.hpp"

namespace communegw {
namespace {

std::string next_seq_cursor(uplink_stream stream) { return fmt::format("uplink.next_seq.{}", to_string(stream)); }
std::string sent_cursor(uplink_stream stream) { return fmt::format("uplink.sent.{}", to_string(stream)); }
constexpr std::string_view events_cursor = "uplink.events";

// Six significant digits: sensor values never carry more, and the centre
// needs compact records more than the last bits of a mean.
void append_number(std::string& out, double value) { fmt::format_to(std::back_inserter(out), "{:.6g}", value); }

}  // namespace

std::string_view to_string(uplink_stream stream) {
  switch (stream) {
    case uplink_stream::alarms: return "alarms";
    case uplink_stream::health: return "health";
    case uplink_stream::aggregates: return "aggregates";
    case uplink_stream::events: return "events";
    case uplink_stream::raw: return "raw";
  }
  return "unknown";
}

std::optional<uplink_stream> parse_uplink_stream(std::string_view name) {
  for (const auto stream : all_uplink_streams) {
    if (to_string(stream) == name) return stream;
  }
  return std::nullopt;
}

std::string month_key(std::int64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}", utc.tm_year + 1900, utc.tm_mon + 1);
}

outbox::outbox(sqlite::database& db, const aggregate_settings& aggregate)
    : db_(db),
      aggregate_(aggregate),
      cursors_(db),
      insert_(db.prepare("INSERT INTO outbox(stream, seq, created_ms, body) VALUES(?, ?, ?, ?)")),
      replace_(db.prepare("UPDATE outbox SET body = ?1 WHERE stream = 2 AND seq = ?2")),
      read_events_(db.prepare(
          "SELECT e.id, d.name, d.kind, e.kind, e.severity, e.start_ms, e.end_ms, e.recv_ms, (e.flags & 1), e.attributes, "
          "e.incident, e.revision, e.closed "
          "FROM events e JOIN devices d ON d.id = e.device WHERE e.id > ? AND e.incident IS NULL ORDER BY e.id LIMIT ?")),
      read_incidents_(db.prepare(
          "SELECT e.id, d.name, d.kind, e.kind, e.severity, e.start_ms, e.end_ms, e.recv_ms, (e.flags & 1), e.attributes, "
          "e.incident, e.revision, e.closed "
          "FROM events e JOIN devices d ON d.id = e.device "
          "WHERE e.queued_revision < e.revision AND (e.closed = 1 OR e.recv_ms <= ?) ORDER BY e.id LIMIT ?")),
      mark_queued_(db.prepare("UPDATE events SET queued_revision = ? WHERE id = ?")),
      read_raw_(db.prepare(
          "SELECT m.id, d.name, d.kind, m.device_ms, m.recv_ms, (m.flags & 1), "
          "(SELECT json_group_object(r.key, r.value) FROM json_each(m.readings) r "
          " WHERE r.key IN (SELECT value FROM json_each(?3))) "
          "FROM messages m JOIN devices d ON d.id = m.device WHERE m.id > ?1 ORDER BY m.id LIMIT ?2")),
      changed_windows_(db.prepare(
          "SELECT device, period_s, start_ms, revision, outbox_seq FROM aggregate_windows "
          "WHERE changed = 1 AND start_ms + period_s * 1000 + ?1 <= ?2 ORDER BY start_ms DESC LIMIT ?3")),
      window_stats_(db.prepare("SELECT metric, count, sum, min, max, last, untrusted FROM aggregates "
                               "WHERE device = ? AND period_s = ? AND start_ms = ? ORDER BY metric")),
      device_(db.prepare("SELECT name, kind FROM devices WHERE id = ?")),
      bump_window_(db.prepare("UPDATE aggregate_windows SET revision = revision + 1, changed = 0, outbox_seq = ? "
                              "WHERE device = ? AND period_s = ? AND start_ms = ?")),
      peek_oldest_(db.prepare("SELECT seq, body FROM outbox WHERE stream = ? ORDER BY seq LIMIT ?")),
      peek_newest_(db.prepare("SELECT seq, body FROM outbox WHERE stream = ? ORDER BY seq DESC LIMIT ?")),
      delete_(db.prepare("DELETE FROM outbox WHERE stream = ? AND seq = ?")),
      add_usage_(db.prepare("INSERT INTO uplink_usage(month, bytes) VALUES(?, ?) "
                            "ON CONFLICT(month) DO UPDATE SET bytes = bytes + excluded.bytes")),
      month_usage_(db.prepare("SELECT bytes FROM uplink_usage WHERE month = ?")) {}

int outbox::insert(uplink_stream stream, std::string_view body, std::int64_t now_ms) {
  const auto cursor = next_seq_cursor(stream);
  const auto seq = cursors_.get(cursor, 1);
  insert_.bind(1, static_cast<std::int64_t>(stream)).bind(2, seq).bind(3, now_ms).bind(4, body);
  int rc = insert_.step();
  insert_.reset();
  if (rc != SQLITE_DONE) return rc;
  return cursors_.set(cursor, seq + 1);
}

feed_result outbox::enqueue(uplink_stream stream, std::string_view body, std::int64_t now_ms) {
  sqlite::transaction txn(db_);
  if (txn.begin_result() != SQLITE_OK) return {txn.begin_result()};
  if (const int rc = insert(stream, body, now_ms); rc != SQLITE_DONE) return {rc};
  if (const int rc = txn.commit(); rc != SQLITE_OK) return {rc};
  return {SQLITE_OK, 1};
}

feed_result outbox::feed_events(std::int64_t limit, std::int64_t now_ms) {
  sqlite::transaction txn(db_);
  if (txn.begin_result() != SQLITE_OK) return {txn.begin_result()};
  feed_result result;
  std::int64_t last = cursors_.get(events_cursor);
  std::vector<std::pair<uplink_stream, std::string>> records;
  std::vector<std::pair<std::int64_t, std::int64_t>> queued_incidents;  // id, revision
  auto read = [&](sqlite::statement& rows, bool incidents) {
    int step_rc;
    while ((step_rc = rows.step()) == SQLITE_ROW) {
      const auto level = rows.column_int(4);
      body_.assign("{\"device\":");
      append_json_string(body_, rows.column_text(1));
      body_ += ",\"device_kind\":";
      append_json_string(body_, rows.column_text(2));
      body_ += ",\"kind\":";
      append_json_string(body_, rows.column_text(3));
      body_ += fmt::format(",\"severity\":\"{}\"", level >= 2 ? "alarm" : level == 1 ? "warning" : "info");
      if (!rows.column_is_null(5)) body_ += fmt::format(",\"start_ms\":{}", rows.column_int(5));
      if (!rows.column_is_null(6)) body_ += fmt::format(",\"end_ms\":{}", rows.column_int(6));
      body_ += fmt::format(",\"recv_ms\":{},\"time_trusted\":{}", rows.column_int(7), rows.column_int(8) != 0);
      if (incidents) {
        body_ += ",\"incident\":";
        append_json_string(body_, rows.column_text(10));
        body_ += fmt::format(",\"revision\":{},\"closed\":{}", rows.column_int(11), rows.column_int(12) != 0);
        queued_incidents.emplace_back(rows.column_int(0), rows.column_int(11));
      } else {
        last = rows.column_int(0);
      }
      body_ += ",\"attributes\":";
      body_ += rows.column_text(9);  // stored as a JSON object by the store
      body_ += '}';
      records.emplace_back(level >= 2 ? uplink_stream::alarms : uplink_stream::events, body_);
    }
    rows.reset();
    return step_rc;
  };
  read_events_.bind(1, last).bind(2, limit);
  int rc = read(read_events_, false);
  if (rc != SQLITE_DONE) return {rc};
  const auto open_before_ms = now_ms - static_cast<std::int64_t>(aggregate_.incident_timeout.count());
  read_incidents_.bind(1, open_before_ms).bind(2, limit);
  if ((rc = read(read_incidents_, true)) != SQLITE_DONE) return {rc};
  for (const auto& [stream, body] : records) {
    if ((rc = insert(stream, body, now_ms)) != SQLITE_DONE) return {rc};
    ++result.queued;
  }
  for (const auto& [id, revision] : queued_incidents) {
    mark_queued_.bind(1, revision).bind(2, id);
    rc = mark_queued_.step();
    mark_queued_.reset();
    if (rc != SQLITE_DONE) return {rc};
  }
  if (last != cursors_.get(events_cursor) && (rc = cursors_.set(events_cursor, last)) != SQLITE_DONE) return {rc};
  if ((rc = txn.commit()) != SQLITE_OK) return {rc};
  return result;
}

feed_result outbox::feed_raw(std::string_view metrics_json, std::int64_t limit, std::int64_t now_ms) {
  constexpr std::string_view cursor = "uplink.raw";
  sqlite::transaction txn(db_);
  if (txn.begin_result() != SQLITE_OK) return {txn.begin_result()};
  int rc;
  std::int64_t last = cursors_.get(cursor, -1);
  if (last < 0) {
    last = db_.query_int("SELECT coalesce(max(id), 0) FROM messages");
    if ((rc = cursors_.set(cursor, last)) != SQLITE_DONE) return {rc};
    if ((rc = txn.commit()) != SQLITE_OK) return {rc};
    return {};
  }
  feed_result result;
  std::vector<std::string> records;
  read_raw_.bind(1, last).bind(2, limit).bind(3, metrics_json);
  while ((rc = read_raw_.step()) == SQLITE_ROW) {
    last = read_raw_.column_int(0);
    const auto readings = read_raw_.column_text(6);
    if (readings.empty() || readings == "{}") continue;  // none of the chosen metrics
    body_.assign("{\"device\":");
    append_json_string(body_, read_raw_.column_text(1));
    body_ += ",\"device_kind\":";
    append_json_string(body_, read_raw_.column_text(2));
    if (!read_raw_.column_is_null(3)) body_ += fmt::format(",\"device_ms\":{}", read_raw_.column_int(3));
    body_ += fmt::format(",\"recv_ms\":{},\"time_trusted\":{},\"readings\":", read_raw_.column_int(4),
                         read_raw_.column_int(5) != 0);
    body_ += readings;
    body_ += '}';
    records.push_back(body_);
  }
  read_raw_.reset();
  if (rc != SQLITE_DONE) return {rc};
  for (const auto& body : records) {
    if ((rc = insert(uplink_stream::raw, body, now_ms)) != SQLITE_DONE) return {rc};
    ++result.queued;
  }
  if ((rc = cursors_.set(cursor, last)) != SQLITE_DONE) return {rc};
  if ((rc = txn.commit()) != SQLITE_OK) return {rc};
  return result;
}

feed_result outbox::shed_raw() {
  sqlite::transaction txn(db_);
  if (txn.begin_result() != SQLITE_OK) return {txn.begin_result()};
  int rc = db_.try_exec("DELETE FROM outbox WHERE stream = 4");
  if (rc != SQLITE_OK) return {rc};
  const auto shed = db_.changes();
  if (shed > 0) {
    auto count = db_.prepare("INSERT INTO counters(name, value) VALUES('shed_uplink.raw', ?) "
                             "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value");
    count.bind(1, static_cast<std::int64_t>(shed));
    if ((rc = count.step()) != SQLITE_DONE) return {rc};
  }
  if ((rc = txn.commit()) != SQLITE_OK) return {rc};
  return {SQLITE_OK, static_cast<std::size_t>(shed)};
}

feed_result outbox::feed_aggregates(std::int64_t limit, std::int64_t now_ms,
                                    const std::unordered_set<std::int64_t>& in_flight) {
  sqlite::transaction txn(db_);
  if (txn.begin_result() != SQLITE_OK) return {txn.begin_result()};
  struct window {
    std::int64_t device, period_s, start_ms, revision;
    std::optional<std::int64_t> outbox_seq;
  };
  std::vector<window> windows;
  changed_windows_.bind(1, static_cast<std::int64_t>(aggregate_.close_delay.count())).bind(2, now_ms).bind(3, limit);
  int rc;
  while ((rc = changed_windows_.step()) == SQLITE_ROW) {
    windows.push_back({changed_windows_.column_int(0), changed_windows_.column_int(1), changed_windows_.column_int(2),
                       changed_windows_.column_int(3),
                       changed_windows_.column_is_null(4) ? std::nullopt
                                                          : std::optional<std::int64_t>(changed_windows_.column_int(4))});
  }
  changed_windows_.reset();
  if (rc != SQLITE_DONE) return {rc};

  feed_result result;
  const double expected_per_second = 1000.0 / static_cast<double>(aggregate_.expected_period.count());
  for (const auto& w : windows) {
    device_.bind(1, w.device);
    if ((rc = device_.step()) != SQLITE_ROW) {
      device_.reset();
      return {rc == SQLITE_DONE ? SQLITE_CORRUPT : rc};
    }
    body_.assign("{\"device\":");
    append_json_string(body_, device_.column_text(0));
    body_ += ",\"device_kind\":";
    append_json_string(body_, device_.column_text(1));
    device_.reset();
    body_ += fmt::format(",\"period_s\":{},\"start_ms\":{},\"revision\":{}", w.period_s, w.start_ms, w.revision + 1);

    std::string metrics, events, zones;
    std::int64_t most_samples = 0, untrusted = 0;
    double lamp_on_mean = -1, load_power_mean = -1, pv_power_mean = -1, night_lamp_mean = -1, night_soc_min = -1;
    window_stats_.bind(1, w.device).bind(2, w.period_s).bind(3, w.start_ms);
    while ((rc = window_stats_.step()) == SQLITE_ROW) {
      const auto metric = window_stats_.column_text(0);
      const auto count = window_stats_.column_int(1);
      if (metric.rfind("event:", 0) == 0) {
        events += events.empty() ? "" : ",";
        append_json_string(events, metric.substr(6));
        events += fmt::format(":{}", count);
        continue;
      }
      if (metric.rfind("zone:", 0) == 0) {  // zone:<zone>:<kind>; a zone name may itself hold ':'
        const auto rest = metric.substr(5);
        const auto colon = rest.rfind(':');
        zones += zones.empty() ? "[" : ",[";  // one [zone, kind, count] triple
        append_json_string(zones, rest.substr(0, colon));
        zones += ',';
        append_json_string(zones, rest.substr(colon + 1));
        zones += fmt::format(",{}]", count);
        continue;
      }
      const double mean = window_stats_.column_double(2) / static_cast<double>(count);
      most_samples = std::max(most_samples, count);
      untrusted = std::max(untrusted, window_stats_.column_int(6));
      if (metric == "lamp_on") lamp_on_mean = mean;
      if (metric == "load_power") load_power_mean = mean;
      if (metric == "pv_power") pv_power_mean = mean;
      if (metric == "lamp_on@night") night_lamp_mean = mean;
      if (metric == "battery_soc@night") night_soc_min = window_stats_.column_double(3);
      metrics += metrics.empty() ? "" : ",";
      append_json_string(metrics, metric);
      metrics += fmt::format(":{{\"n\":{},\"min\":", count);
      append_number(metrics, window_stats_.column_double(3));
      metrics += ",\"max\":";
      append_number(metrics, window_stats_.column_double(4));
      metrics += ",\"mean\":";
      append_number(metrics, mean);
      metrics += ",\"last\":";
      append_number(metrics, window_stats_.column_double(5));
      metrics += '}';
    }
    window_stats_.reset();
    if (rc != SQLITE_DONE) return {rc};

    const double expected = expected_per_second * static_cast<double>(w.period_s);
    body_ += ",\"completeness\":";
    // A device that only sends events (a camera) has no expected samples: not 0, null.
    if (metrics.empty()) body_ += "null";
    else append_number(body_, std::min(1.0, static_cast<double>(most_samples) / expected));
    body_ += fmt::format(",\"untrusted\":{},\"metrics\":{{{}}},\"events\":{{{}}}", untrusted, metrics, events);
    if (!zones.empty()) body_ += ",\"events_by_zone\":[" + zones + "]";  // [[zone, kind, count], …]
    // Streetlight figures the programme reports on, from the window means
    // (a mean of an on/off metric is the share of time it was on).
    const double hours = static_cast<double>(w.period_s) / 3600.0;
    std::string derived;
    auto add_derived = [&](std::string_view name, double value) {
      derived += derived.empty() ? "" : ",";
      derived += fmt::format("\"{}\":", name);
      append_number(derived, value);
    };
    if (lamp_on_mean >= 0) add_derived("lamp_on_hours", lamp_on_mean * hours);
    if (load_power_mean >= 0) add_derived("load_energy_kwh", load_power_mean * hours / 1000.0);
    if (pv_power_mean >= 0) add_derived("pv_energy_kwh", pv_power_mean * hours / 1000.0);
    if (night_lamp_mean >= 0) add_derived("night_lamp_availability", night_lamp_mean);
    if (night_soc_min >= 0) add_derived("night_min_battery_soc", night_soc_min);
    if (!derived.empty()) body_ += ",\"derived\":{" + derived + "}";
    body_ += '}';

    std::optional<std::int64_t> seq;
    if (w.outbox_seq && !in_flight.count(*w.outbox_seq)) {
      replace_.bind(1, std::string_view(body_)).bind(2, *w.outbox_seq);
      rc = replace_.step();
      replace_.reset();
      if (rc != SQLITE_DONE) return {rc};
      if (db_.changes() == 1) seq = w.outbox_seq;  // else: already acknowledged and gone
    }
    if (!seq) {
      seq = cursors_.get(next_seq_cursor(uplink_stream::aggregates), 1);
      if ((rc = insert(uplink_stream::aggregates, body_, now_ms)) != SQLITE_DONE) return {rc};
    }
    bump_window_.bind(1, *seq).bind(2, w.device).bind(3, w.period_s).bind(4, w.start_ms);
    rc = bump_window_.step();
    bump_window_.reset();
    if (rc != SQLITE_DONE) return {rc};
    ++result.queued;
  }
  if ((rc = txn.commit()) != SQLITE_OK) return {rc};
  return result;
}

std::vector<outbox_record> outbox::peek(uplink_stream stream, bool newest_first,
                                        const std::unordered_set<std::int64_t>& skip, std::size_t max_records,
                                        std::size_t max_bytes) {
  auto& query = newest_first ? peek_newest_ : peek_oldest_;
  query.bind(1, static_cast<std::int64_t>(stream)).bind(2, static_cast<std::int64_t>(max_records + skip.size()));
  std::vector<outbox_record> out;
  std::size_t bytes = 0;
  while (out.size() < max_records && query.step() == SQLITE_ROW) {
    const auto seq = query.column_int(0);
    if (skip.count(seq)) continue;
    const auto body = query.column_text(1);
    // Always at least one record, even one over max_bytes: it must go some time.
    if (!out.empty() && bytes + body.size() > max_bytes) break;
    bytes += body.size();
    out.push_back({seq, std::string(body)});
  }
  query.reset();
  return out;
}

int outbox::acknowledge(uplink_stream stream, std::span<const std::int64_t> seqs, std::int64_t wire_bytes,
                        std::int64_t now_ms) {
  sqlite::transaction txn(db_);
  if (txn.begin_result() != SQLITE_OK) return txn.begin_result();
  int rc;
  std::int64_t removed = 0;
  for (const auto seq : seqs) {
    delete_.bind(1, static_cast<std::int64_t>(stream)).bind(2, seq);
    rc = delete_.step();
    delete_.reset();
    if (rc != SQLITE_DONE) return rc;
    removed += db_.changes();  // 0 for a late second acknowledgement of a resent batch
  }
  if ((rc = cursors_.add(sent_cursor(stream), removed)) != SQLITE_DONE) return rc;
  add_usage_.bind(1, month_key(now_ms)).bind(2, wire_bytes);
  rc = add_usage_.step();
  add_usage_.reset();
  if (rc != SQLITE_DONE) return rc;
  return txn.commit();
}

std::array<stream_backlog, all_uplink_streams.size()> outbox::backlog() {
  std::array<stream_backlog, all_uplink_streams.size()> out{};
  auto stmt = db_.prepare("SELECT stream, count(*), sum(length(body)), min(created_ms) FROM outbox GROUP BY stream");
  while (stmt.step() == SQLITE_ROW) {
    const auto index = static_cast<std::size_t>(stmt.column_int(0));
    if (index >= out.size()) continue;
    out[index].records = stmt.column_int(1);
    out[index].bytes = stmt.column_int(2);
    out[index].oldest_ms = stmt.column_int(3);
  }
  for (const auto stream : all_uplink_streams) {
    auto& entry = out[static_cast<std::size_t>(stream)];
    entry.sent = cursors_.get(sent_cursor(stream));
    entry.next_seq = cursors_.get(next_seq_cursor(stream), 1);
  }
  return out;
}

std::int64_t outbox::bytes_sent_in_month(std::int64_t now_ms) {
  month_usage_.bind(1, month_key(now_ms));
  const auto bytes = month_usage_.step() == SQLITE_ROW ? month_usage_.column_int(0) : 0;
  month_usage_.reset();
  return bytes;
}

int outbox::record_drain_rate(double records_per_s, std::int64_t now_ms) {
  sqlite::transaction txn(db_);
  if (txn.begin_result() != SQLITE_OK) return txn.begin_result();
  int rc;
  if ((rc = cursors_.set(drain_rate_cursor, std::llround(records_per_s * 1000))) != SQLITE_DONE) return rc;
  if ((rc = cursors_.set(drain_measured_cursor, now_ms)) != SQLITE_DONE) return rc;
  return txn.commit();
}

std::optional<drain_rate> read_drain_rate(sqlite::database& db) {
  auto query = db.prepare("SELECT (SELECT value FROM cursors WHERE name = ?1), (SELECT value FROM cursors WHERE name = ?2)");
  query.bind(1, drain_rate_cursor).bind(2, drain_measured_cursor);
  if (query.step() != SQLITE_ROW || query.column_is_null(0) || query.column_is_null(1)) return std::nullopt;
  return drain_rate{static_cast<double>(query.column_int(0)) / 1000, query.column_int(1)};
}

}  // namespace communegw
