#include "gateway/aggregate/aggregator.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>

namespace communegw {
namespace {

// The time a sample belongs to: the device's own time when it sent one the
// store did not flag as implausible (flags bit 2), else when it was received.
constexpr const char* sample_time_sql =
    "CASE WHEN {0} IS NOT NULL AND (flags & 2) = 0 THEN {0} ELSE recv_ms END";

std::string sample_time(const char* column) {
  std::string out = sample_time_sql;
  for (std::size_t at; (at = out.find("{0}")) != std::string::npos;) out.replace(at, 3, column);
  return out;
}

// Events with the zones they name, one row per zone (NULL when none): native
// events name one "zone", incidents (Frigate) a "zones" array.
std::string events_sql(std::string_view where) {
  return "SELECT e.id, e.device, " + sample_time("e.start_ms") +
         ", (e.flags & 1), e.kind, z.value FROM events e LEFT JOIN json_each(CASE "
         "WHEN json_type(e.attributes, '$.zones') = 'array' THEN json_extract(e.attributes, '$.zones') "
         "WHEN json_type(e.attributes, '$.zone') = 'text' THEN json_array(json_extract(e.attributes, '$.zone')) "
         "ELSE '[]' END) z WHERE " + std::string(where);
}

}  // namespace

std::int64_t window_start_ms(std::int64_t t_ms, std::chrono::milliseconds period, std::chrono::minutes utc_offset) {
  const std::int64_t offset_ms = std::chrono::duration_cast<std::chrono::milliseconds>(utc_offset).count();
  const std::int64_t length = period.count();
  const std::int64_t local = t_ms + offset_ms;
  // Floor division: times before 1970 (an unset device clock) still get a window.
  std::int64_t index = local / length;
  if (local % length < 0) --index;
  return index * length - offset_ms;
}

bool is_night(std::int64_t t_ms, const aggregate_settings& settings) {
  constexpr std::int64_t day_ms = 86'400'000;
  const auto offset_ms = std::chrono::duration_cast<std::chrono::milliseconds>(settings.utc_offset).count();
  const std::int64_t minute_of_day = (((t_ms + offset_ms) % day_ms + day_ms) % day_ms) / 60'000;
  const auto start = settings.night_start.count(), end = settings.night_end.count();
  return start < end ? (minute_of_day >= start && minute_of_day < end) : (minute_of_day >= start || minute_of_day < end);
}

bool aggregator::key::operator<(const key& other) const {
  // The table's key order: upserts then walk the B-tree forwards.
  return std::tie(period_s, start_ms, device, metric) < std::tie(other.period_s, other.start_ms, other.device, other.metric);
}

void aggregator::stats::add(double value, std::int64_t t_ms, bool trusted) {
  if (count == 0) {
    min = max = value;
  } else {
    min = std::min(min, value);
    max = std::max(max, value);
  }
  ++count;
  sum += value;
  if (count == 1 || t_ms >= last_ms) {
    last = value;
    last_ms = t_ms;
  }
  if (!trusted) ++untrusted;
}

aggregator::aggregator(sqlite::database& db, const aggregate_settings& settings,
                       std::vector<std::chrono::milliseconds> sent_periods)
    : db_(db),
      settings_(settings),
      sent_periods_(std::move(sent_periods)),
      cursors_(db),
      read_messages_(db.prepare("SELECT m.id, m.device, " + sample_time("m.device_ms") +
                                ", (m.flags & 1), r.key, r.value FROM messages m, json_each(m.readings) r "
                                "WHERE m.id > ?1 AND m.id <= ?2 AND r.type IN ('integer', 'real')")),
      read_events_(db.prepare(events_sql("e.id > ?1 AND e.id <= ?2 AND e.incident IS NULL ORDER BY e.id"))),
      read_incidents_(db.prepare(events_sql("e.folded = 0 AND (e.closed = 1 OR e.recv_ms <= ?1) ORDER BY e.id LIMIT ?2"))),
      mark_folded_(db.prepare("UPDATE events SET folded = 1 WHERE id = ?")),
      upsert_stats_(db.prepare(
          "INSERT INTO aggregates(device, period_s, start_ms, metric, count, sum, min, max, last, last_ms, untrusted) "
          "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
          "count = count + excluded.count, sum = sum + excluded.sum, min = min(min, excluded.min), "
          "max = max(max, excluded.max), "
          "last = CASE WHEN excluded.last_ms >= last_ms THEN excluded.last ELSE last END, "
          "last_ms = max(last_ms, excluded.last_ms), untrusted = untrusted + excluded.untrusted")),
      mark_window_(db.prepare("INSERT INTO aggregate_windows(device, period_s, start_ms, revision, changed) "
                              "VALUES(?, ?, ?, 0, 1) ON CONFLICT DO UPDATE SET changed = 1")),
      first_waiting_message_(db.prepare("SELECT min(id) FROM messages WHERE id > ?1 AND id <= ?2 AND boot = ?3 "
                                        "AND (flags & 1) = 0 AND mono_ms > ?4")),
      first_waiting_event_(db.prepare("SELECT min(id) FROM events WHERE id > ?1 AND id <= ?2 AND boot = ?3 "
                                      "AND (flags & 1) = 0 AND mono_ms > ?4")) {}

namespace {

// The first row in (from, to] that must wait for the clock, or none.
std::optional<std::int64_t> first_waiting(sqlite::statement& query, std::int64_t from, std::int64_t to,
                                          const fold_clock& clock, std::chrono::milliseconds wait) {
  query.bind(1, from).bind(2, to).bind(3, clock.boot_row).bind(4, clock.now_mono_ms - wait.count());
  std::optional<std::int64_t> id;
  if (query.step() == SQLITE_ROW && !query.column_is_null(0)) id = query.column_int(0);
  query.reset();
  return id;
}

}  // namespace

fold_result aggregator::fold(std::int64_t limit, const fold_clock& clock) {
  fold_result result;
  // Reading needs no lock in WAL mode; only the writes below take the write
  // lock, briefly, so the ingest writer is not held up by the reading.
  const auto from_message = cursors_.get(messages_cursor);
  const auto from_event = cursors_.get(events_cursor);
  const auto newest_message = db_.query_int("SELECT coalesce(max(id), 0) FROM messages");
  const auto newest_event = db_.query_int("SELECT coalesce(max(id), 0) FROM events");
  auto to_message = std::min(newest_message, from_message + limit);
  auto to_event = std::min(newest_event, from_event + limit);
  result.caught_up = to_message == newest_message && to_event == newest_event;
  if (clock.boot_row >= 0 && settings_.clock_wait.count() > 0) {
    if (auto id = first_waiting(first_waiting_message_, from_message, to_message, clock, settings_.clock_wait)) {
      to_message = *id - 1;
      result.waiting_for_clock = true;
    }
    if (auto id = first_waiting(first_waiting_event_, from_event, to_event, clock, settings_.clock_wait)) {
      to_event = *id - 1;
      result.waiting_for_clock = true;
    }
    // What is left waits for the clock, not for another pass.
    if (result.waiting_for_clock) result.caught_up = true;
  }
  // Incidents due for counting: closed, or open since before the timeout.
  const auto incidents_before_ms =
      clock.now_ms == 0 ? std::int64_t{-1} : clock.now_ms - static_cast<std::int64_t>(settings_.incident_timeout.count());
  bool incidents_due = false;
  read_incidents_.bind(1, incidents_before_ms).bind(2, std::int64_t{1});
  incidents_due = read_incidents_.step() == SQLITE_ROW;
  read_incidents_.reset();
  if (to_message <= from_message && to_event <= from_event && !incidents_due) return result;

  std::map<key, stats> folded;
  const auto horizon_ms = cursors_.get(horizon_cursor);
  auto fold_sample = [&](std::int64_t device, std::int64_t t_ms, bool trusted, std::string_view metric, double value) {
    for (const auto period : settings_.periods) {
      const auto start = window_start_ms(t_ms, period, settings_.utc_offset);
      if (start + period.count() <= horizon_ms) {
        ++result.too_late;
        continue;
      }
      folded[key{device, period.count() / 1000, start, std::string(metric)}].add(value, t_ms, trusted);
      ++result.samples;
    }
  };

  std::int64_t last_id = 0;
  std::string metric;
  read_messages_.bind(1, from_message).bind(2, to_message);
  int rc;
  while ((rc = read_messages_.step()) == SQLITE_ROW) {
    if (const auto id = read_messages_.column_int(0); id != last_id) {
      last_id = id;
      ++result.messages;
    }
    const auto device = read_messages_.column_int(1);
    const auto t_ms = read_messages_.column_int(2);
    const bool trusted = read_messages_.column_int(3) != 0;
    const auto name = read_messages_.column_text(4);
    const auto value = read_messages_.column_double(5);
    fold_sample(device, t_ms, trusted, name, value);
    // Streetlight figures the programme asks for: is the lamp on at night, and
    // how low does the battery go then. Kept as metrics of their own.
    if ((name == "lamp_on" || name == "battery_soc") && is_night(t_ms, settings_)) {
      metric.assign(name).append("@night");
      fold_sample(device, t_ms, trusted, metric, value);
    }
  }
  read_messages_.reset();
  if (rc != SQLITE_DONE) return {rc};

  // One row per event and zone: the event counts once, each zone once.
  auto fold_events = [&](sqlite::statement& rows, std::vector<std::int64_t>* ids) {
    std::int64_t previous = 0;
    int step_rc;
    while ((step_rc = rows.step()) == SQLITE_ROW) {
      const auto id = rows.column_int(0);
      const auto device = rows.column_int(1);
      const auto t_ms = rows.column_int(2);
      const bool trusted = rows.column_int(3) != 0;
      if (id != previous) {
        previous = id;
        ++result.events;
        if (ids) ids->push_back(id);
        metric.assign("event:").append(rows.column_text(4));
        fold_sample(device, t_ms, trusted, metric, 1.0);
      }
      // Camera counts by zone: "zone:<zone>:<kind>".
      if (!rows.column_is_null(5)) {
        metric.assign("zone:").append(rows.column_text(5)).append(":").append(rows.column_text(4));
        fold_sample(device, t_ms, trusted, metric, 1.0);
      }
    }
    rows.reset();
    return step_rc;
  };
  read_events_.bind(1, from_event).bind(2, to_event);
  if ((rc = fold_events(read_events_, nullptr)) != SQLITE_DONE) return {rc};
  std::vector<std::int64_t> incidents;
  read_incidents_.bind(1, incidents_before_ms).bind(2, limit);
  if ((rc = fold_events(read_incidents_, &incidents)) != SQLITE_DONE) return {rc};

  sqlite::transaction txn(db_);
  if (txn.begin_result() != SQLITE_OK) return {txn.begin_result()};
  const key* previous_window = nullptr;
  for (const auto& [k, s] : folded) {
    upsert_stats_.bind(1, k.device)
        .bind(2, k.period_s)
        .bind(3, k.start_ms)
        .bind(4, std::string_view(k.metric))
        .bind(5, s.count)
        .bind(6, s.sum)
        .bind(7, s.min)
        .bind(8, s.max)
        .bind(9, s.last)
        .bind(10, s.last_ms)
        .bind(11, s.untrusted);
    rc = upsert_stats_.step();
    upsert_stats_.reset();
    if (rc != SQLITE_DONE) return {rc};
    // Keys are sorted with the metric last: one window mark per window.
    const bool same_window = previous_window && previous_window->device == k.device &&
                             previous_window->period_s == k.period_s && previous_window->start_ms == k.start_ms;
    previous_window = &k;
    if (same_window) continue;
    const bool sent = std::any_of(sent_periods_.begin(), sent_periods_.end(),
                                  [&](auto period) { return period.count() / 1000 == k.period_s; });
    if (!sent) continue;
    mark_window_.bind(1, k.device).bind(2, k.period_s).bind(3, k.start_ms);
    rc = mark_window_.step();
    mark_window_.reset();
    if (rc != SQLITE_DONE) return {rc};
  }
  for (const auto id : incidents) {
    mark_folded_.bind(1, id);
    rc = mark_folded_.step();
    mark_folded_.reset();
    if (rc != SQLITE_DONE) return {rc};
  }
  if ((rc = cursors_.set(messages_cursor, to_message)) != SQLITE_DONE) return {rc};
  if ((rc = cursors_.set(events_cursor, to_event)) != SQLITE_DONE) return {rc};
  if (result.too_late != 0 && (rc = cursors_.add("aggregate.too_late", static_cast<std::int64_t>(result.too_late))) != SQLITE_DONE) {
    return {rc};
  }
  if ((rc = txn.commit()) != SQLITE_OK) return {rc};
  return result;
}

}  // namespace communegw
