// `communegw query`: readings, events, rejections and counters from the store,
// as a table, JSON or CSV. Opens the store read-only; WAL lets it run next to
// a live gateway without blocking ingest.
#include <chrono>
#include <iostream>

#include <fmt/format.h>

#include "gateway/cli/commands.hpp"
#include "gateway/config/quantity.hpp"
#include "gateway/model/json_text.hpp"
#include "gateway/model/timestamp.hpp"
#include "gateway/store/sqlite.hpp"
#include "gateway/registry/registry_import.hpp"
#include "gateway/store/store.hpp"
#include "gateway/uplink/outbox.hpp"

namespace communegw {
namespace {

struct cell {
  std::string text;
  bool is_number = false;
  bool is_null = false;
};

struct result_table {
  std::vector<std::string> columns;
  std::vector<std::vector<cell>> rows;
};

std::string printable(std::string_view bytes) {
  std::string out;
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) out += c;
    else out += fmt::format("\\x{:02x}", byte);
  }
  return out;
}

std::int64_t parse_time_bound(const std::string& text, std::int64_t fallback, std::int64_t now_ms, const char* flag) {
  if (text.empty()) return fallback;
  if (const auto ago = parse_duration(text)) return now_ms - ago->count();
  if (const auto at = parse_rfc3339_ms(text)) return *at;
  throw config_error(fmt::format("{}: \"{}\" is neither a duration (\"2h\") nor an RFC 3339 time", flag, text));
}

result_table run_query(sqlite::database& db, const std::string& sql, const query_options& options, std::int64_t since,
                       std::int64_t until) {
  auto stmt = db.prepare(sql);
  const int params = sqlite3_bind_parameter_count(stmt.get());
  // Every query uses the same numbered parameters; unused ones are simply absent.
  if (params >= 1) stmt.bind(1, std::string_view(options.device));
  if (params >= 2) stmt.bind(2, std::string_view(options.metric));
  if (params >= 3) stmt.bind(3, since);
  if (params >= 4) stmt.bind(4, until);
  if (params >= 5) stmt.bind(5, options.limit);
  result_table table;
  const int columns = sqlite3_column_count(stmt.get());
  for (int i = 0; i < columns; ++i) table.columns.emplace_back(sqlite3_column_name(stmt.get(), i));
  int rc = SQLITE_OK;
  while ((rc = stmt.step()) == SQLITE_ROW) {
    std::vector<cell> row;
    for (int i = 0; i < columns; ++i) {
      switch (sqlite3_column_type(stmt.get(), i)) {
        case SQLITE_NULL: row.push_back({"", false, true}); break;
        case SQLITE_INTEGER: row.push_back({std::to_string(stmt.column_int(i)), true}); break;
        case SQLITE_FLOAT: row.push_back({fmt::format("{}", stmt.column_double(i)), true}); break;
        case SQLITE_BLOB: {
          const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt.get(), i));
          row.push_back({printable(std::string_view(data ? data : "", static_cast<std::size_t>(sqlite3_column_bytes(stmt.get(), i))))});
          break;
        }
        default: row.push_back({std::string(stmt.column_text(i))});
      }
    }
    table.rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) throw sqlite::error(rc, "query failed: " + db.error_message());
  return table;
}

void print_table(const result_table& table) {
  std::vector<std::size_t> widths(table.columns.size());
  for (std::size_t i = 0; i < table.columns.size(); ++i) widths[i] = table.columns[i].size();
  for (const auto& row : table.rows) {
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], std::min<std::size_t>(row[i].text.size(), 60));
  }
  auto print_row = [&](auto get) {
    std::string line;
    for (std::size_t i = 0; i < widths.size(); ++i) {
      std::string text = get(i);
      if (text.size() > 60) text = text.substr(0, 57) + "...";
      line += fmt::format("{:<{}}  ", text, widths[i]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << '\n';
  };
  print_row([&](std::size_t i) { return table.columns[i]; });
  for (const auto& row : table.rows) print_row([&](std::size_t i) { return row[i].is_null ? std::string("-") : row[i].text; });
  std::cout << "(" << table.rows.size() << " rows)\n";
}

void print_json(const result_table& table) {
  std::string out = "[";
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    out += r ? ",\n {" : "\n {";
    for (std::size_t i = 0; i < table.columns.size(); ++i) {
      if (i) out += ", ";
      append_json_string(out, table.columns[i]);
      out += ": ";
      const auto& value = table.rows[r][i];
      if (value.is_null) out += "null";
      else if (value.is_number) out += value.text;
      else append_json_string(out, value.text);
    }
    out += "}";
  }
  out += table.rows.empty() ? "]\n" : "\n]\n";
  std::cout << out;
}

void print_csv(const result_table& table) {
  auto quote = [](const std::string& text) {
    if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
    std::string out = "\"";
    for (const char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
  };
  for (std::size_t i = 0; i < table.columns.size(); ++i) std::cout << (i ? "," : "") << quote(table.columns[i]);
  std::cout << "\r\n";
  for (const auto& row : table.rows) {
    for (std::size_t i = 0; i < row.size(); ++i) std::cout << (i ? "," : "") << quote(row[i].text);
    std::cout << "\r\n";
  }
}

constexpr auto iso = [](const char* column) {
  return fmt::format("strftime('%Y-%m-%dT%H:%M:%fZ', {} / 1000.0, 'unixepoch')", column);
};

std::string sql_for(const std::string& what) {
  if (what == "readings") {
    return fmt::format(
        "SELECT device, metric, value, unit, {} AS device_time, {} AS received, time_trusted, seq, topic "
        "FROM readings WHERE (?1 = '' OR device = ?1) AND (?2 = '' OR metric = ?2) AND recv_ms >= ?3 AND recv_ms < ?4 "
        "ORDER BY message DESC, metric LIMIT ?5",
        iso("device_ms"), iso("recv_ms"));
  }
  if (what == "events") {
    return fmt::format(
        "SELECT e.id, d.name AS device, e.kind, CASE e.severity WHEN 0 THEN 'info' WHEN 1 THEN 'warning' ELSE 'alarm' END "
        "AS severity, {} AS start, {} AS end, {} AS received, (e.flags & 1) AS time_trusted, e.attributes, "
        "e.incident, CASE WHEN e.incident IS NULL THEN NULL ELSE e.revision END AS revision, "
        "CASE WHEN e.incident IS NULL THEN NULL ELSE e.closed END AS closed "
        "FROM events e JOIN devices d ON d.id = e.device "
        "WHERE (?1 = '' OR d.name = ?1) AND (?2 = '' OR e.kind = ?2) AND e.recv_ms >= ?3 AND e.recv_ms < ?4 "
        "ORDER BY e.id DESC LIMIT ?5",
        iso("e.start_ms"), iso("e.end_ms"), iso("e.recv_ms"));
  }
  if (what == "rejections") {
    return fmt::format(
        "SELECT id, {} AS received, reason, detail, topic, payload_size, payload FROM quarantine "
        "WHERE (?1 = '' OR instr('/' || topic || '/', '/' || ?1 || '/') > 0) AND (?2 = '' OR reason = ?2) "
        "AND recv_ms >= ?3 AND recv_ms < ?4 "
        "ORDER BY id DESC LIMIT ?5",
        iso("recv_ms"));
  }
  if (what == "counters") return "SELECT name, value FROM counters ORDER BY name";
  if (what == "uplink") {
    // What waits for the central broker, per stream, and what has gone.
    // drains_in_s: when this stream's backlog will be gone at the last
    // measured drain rate, streams going in priority order (empty before
    // the first measurement).
    return fmt::format(
        "WITH streams(id, name) AS (VALUES (0, 'alarms'), (1, 'health'), (2, 'aggregates'), (3, 'events'), (4, 'raw')), "
        "rate(per_s) AS (SELECT value / 1000.0 FROM cursors WHERE name = '{}' AND value > 0) "
        "SELECT s.name AS stream, count(o.seq) AS waiting, coalesce(sum(length(o.body)), 0) AS waiting_bytes, "
        "{} AS oldest_waiting, "
        "CAST(sum(count(o.seq)) OVER (ORDER BY s.id) / (SELECT per_s FROM rate) AS INTEGER) AS drains_in_s, "
        "coalesce((SELECT value FROM cursors WHERE name = 'uplink.sent.' || s.name), 0) AS sent, "
        "coalesce((SELECT value FROM cursors WHERE name = 'uplink.next_seq.' || s.name), 1) - 1 AS last_seq "
        "FROM streams s LEFT JOIN outbox o ON o.stream = s.id GROUP BY s.id ORDER BY s.id",
        drain_rate_cursor, iso("min(o.created_ms)"));
  }
  if (what == "devices") {
    // last_seen: the value the gateway saved (every 10 min and at shutdown)
    // or the messages stored after that save, whichever is newer; only the
    // tail of messages is read (rowid range). Availability reports heard
    // since the save count once it is made.
    // availability is the device's own report, "(retained)" when only a broker's stored copy said so.
    // Registry columns (temp.registry, filled by query_store) beside what
    // was heard; registered devices never heard from are listed too.
    return fmt::format(
        "SELECT * FROM ("
        "SELECT d.name AS device, coalesce(r.kind, d.kind) AS kind, coalesce(r.name, '') AS name, "
        "coalesce(r.village, '') AS village, {} AS first_seen, {} AS last_seen, "
        "coalesce(d.availability || CASE d.availability_retained WHEN 1 THEN ' (retained)' ELSE '' END, '') "
        "AS availability, {} AS availability_since "
        "FROM devices d LEFT JOIN temp.registry r ON r.id = d.name "
        "LEFT JOIN (SELECT device, max(recv_ms) AS last_ms FROM messages "
        "  WHERE id > coalesce((SELECT value FROM cursors WHERE name = '{}'), 0) AND flags & 16 = 0 GROUP BY device) m "
        "ON m.device = d.id "
        "UNION ALL SELECT r.id, r.kind, r.name, r.village, NULL, NULL, 'never heard from', NULL FROM temp.registry r "
        "WHERE r.id NOT IN (SELECT name FROM devices)) "
        "WHERE (?1 = '' OR device = ?1) ORDER BY device",
        iso("d.first_seen_ms"), iso("nullif(max(coalesce(d.last_seen_ms, 0), coalesce(m.last_ms, 0)), 0)"),
        iso("d.availability_since_ms"), last_seen_through_cursor);
  }
  if (what == "registry") {
    // The CSV columns `device import` reads (registry_csv_columns), then where
    // each was defined: the CSV output imports back as it is.
    return "SELECT id, kind, name, village, latitude, longitude, road_length_m, report_interval, metric_intervals, "
           "driver, units, source FROM temp.registry WHERE (?1 = '' OR id = ?1) ORDER BY id";
  }
  throw config_error(
      fmt::format("query: unknown table \"{}\" (readings, events, rejections, counters, devices, uplink, registry)", what));
}

// temp.registry: the registry `run` uses (the config's [[device]] tables and
// the devices imported into the store), for the queries above. A read-only
// connection may still write its temp database.
void fill_registry_table(sqlite::database& db, const config& cfg) {
  std::vector<registered_device> imported;
  if (db.query_int("SELECT count(*) FROM sqlite_master WHERE name = 'registry'") > 0) imported = load_imported_devices(db);
  const device_registry registry(cfg.devices, std::move(imported));
  db.exec(
      "CREATE TEMP TABLE registry(id TEXT PRIMARY KEY, kind TEXT, name TEXT, village TEXT, latitude REAL, longitude REAL, "
      "road_length_m REAL, report_interval TEXT, driver TEXT, units TEXT, source TEXT, metric_intervals TEXT)");
  auto insert = db.prepare("INSERT INTO temp.registry VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  for (const auto& device : registry.all()) {
    std::string units, intervals;
    for (const auto& [field, unit] : device.units) units += fmt::format("{}{}={}", units.empty() ? "" : ";", field, unit);
    for (const auto& [metric, interval] : device.metric_intervals) {
      intervals += fmt::format("{}{}={}", intervals.empty() ? "" : ";", metric, format_duration(interval));
    }
    insert.bind(1, std::string_view(device.id))
        .bind(2, std::string_view(device.kind))
        .bind(3, std::string_view(device.name))
        .bind(4, std::string_view(device.village))
        .bind(5, device.latitude)
        .bind(6, device.longitude)
        .bind(7, device.road_length_m)
        .bind(8, std::string_view(device.report_interval.count() ? format_duration(device.report_interval) : ""))
        .bind(9, std::string_view(device.driver))
        .bind(10, std::string_view(units))
        .bind(11, std::string_view(device.source))
        .bind(12, std::string_view(intervals));
    if (const int rc = insert.step(); rc != SQLITE_DONE) throw sqlite::error(rc, "registry: " + db.error_message());
    insert.reset();
  }
}

}  // namespace

int query_store(const config& cfg, const query_options& options) {
  const auto sql = sql_for(options.what);
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  const auto since = parse_time_bound(options.since, INT64_MIN, now_ms, "--since");
  const auto until = parse_time_bound(options.until, INT64_MAX, now_ms, "--until");
  std::error_code ec;
  if (!std::filesystem::exists(cfg.store.path, ec)) {
    std::cerr << fmt::format("{}: no store yet (`communegw run` creates it)\n", cfg.store.path.string());
    return 1;
  }
  sqlite::database db(cfg.store.path, SQLITE_OPEN_READONLY);
  db.exec("PRAGMA busy_timeout = 5000");
  if (options.what == "devices" || options.what == "registry") fill_registry_table(db, cfg);
  const auto table = run_query(db, sql, options, since, until);
  if (options.format == "json") print_json(table);
  else if (options.format == "csv") print_csv(table);
  else print_table(table);
  return 0;
}

}  // namespace communegw
