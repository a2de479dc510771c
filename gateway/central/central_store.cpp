#include "gateway/central/central_store.hpp"

#include <simdjson.h>

#include <fmt/format.h>

#include "gateway/uplink/wire.hpp"

namespace communegw {
namespace {

constexpr std::size_t max_batch_json = 64u << 20;  // decompressed; uplink.batch_bytes is at most 16 MiB

constexpr const char* central_schema = R"sql(
CREATE TABLE IF NOT EXISTS records(
  gateway TEXT NOT NULL,
  stream TEXT NOT NULL,
  seq INTEGER NOT NULL,
  received_ms INTEGER NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY(gateway, stream, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS latest_aggregates(
  gateway TEXT NOT NULL,
  device TEXT NOT NULL,
  period_s INTEGER NOT NULL,
  start_ms INTEGER NOT NULL,
  revision INTEGER NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY(gateway, device, period_s, start_ms)
) WITHOUT ROWID;
-- The latest revision of each incident (an event its device reported several
-- times, sent again as a new revision whenever it changed after it was sent).
CREATE TABLE IF NOT EXISTS latest_incidents(
  gateway TEXT NOT NULL,
  device TEXT NOT NULL,
  incident TEXT NOT NULL,
  revision INTEGER NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY(gateway, device, incident)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stream_stats(
  gateway TEXT NOT NULL,
  stream TEXT NOT NULL,
  batches INTEGER NOT NULL,
  duplicates INTEGER NOT NULL,
  wire_bytes INTEGER NOT NULL,
  PRIMARY KEY(gateway, stream)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gateway_status(
  gateway TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  received_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rejections(
  reason TEXT PRIMARY KEY,
  count INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// communegw/v1/<province>/<commune>/<gateway>/<leaf>
bool split_topic(std::string_view topic, std::string_view& gateway, std::string_view& leaf) {
  std::vector<std::string_view> levels;
  for (std::size_t start = 0;;) {
    const auto slash = topic.find('/', start);
    levels.push_back(topic.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (levels.size() != 6 || levels[0] != "communegw" || levels[1] != "v1") return false;
  gateway = levels[4];
  leaf = levels[5];
  return !gateway.empty() && !leaf.empty();
}

}  // namespace

central_store::central_store(const std::filesystem::path& path)
    : db_(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) {
  db_.exec("PRAGMA journal_mode = WAL");
  db_.exec("PRAGMA synchronous = NORMAL");
  db_.exec(central_schema);
  insert_record_ = db_.prepare("INSERT OR IGNORE INTO records(gateway, stream, seq, received_ms, body) VALUES(?, ?, ?, ?, ?)");
  upsert_aggregate_ = db_.prepare(
      "INSERT INTO latest_aggregates(gateway, device, period_s, start_ms, revision, body) VALUES(?, ?, ?, ?, ?, ?) "
      "ON CONFLICT DO UPDATE SET revision = excluded.revision, body = excluded.body WHERE excluded.revision > revision");
  upsert_incident_ = db_.prepare(
      "INSERT INTO latest_incidents(gateway, device, incident, revision, body) VALUES(?, ?, ?, ?, ?) "
      "ON CONFLICT DO UPDATE SET revision = excluded.revision, body = excluded.body WHERE excluded.revision > revision");
  add_stats_ = db_.prepare(
      "INSERT INTO stream_stats(gateway, stream, batches, duplicates, wire_bytes) VALUES(?, ?, 1, ?, ?) "
      "ON CONFLICT DO UPDATE SET batches = batches + 1, duplicates = duplicates + excluded.duplicates, "
      "wire_bytes = wire_bytes + excluded.wire_bytes");
  set_status_ = db_.prepare(
      "INSERT INTO gateway_status(gateway, status, received_ms) VALUES(?, ?, ?) "
      "ON CONFLICT DO UPDATE SET status = excluded.status, received_ms = excluded.received_ms");
  count_rejection_ = db_.prepare(
      "INSERT INTO rejections(reason, count) VALUES(?, 1) ON CONFLICT DO UPDATE SET count = count + 1");
}

central_ingest_result central_store::ingest(std::string_view topic, std::string_view payload) {
  central_ingest_result result;
  auto refuse = [&](std::string reason, std::string detail) {
    count_rejection_.bind(1, std::string_view(reason)).step();
    count_rejection_.reset();
    result.error = std::move(detail);
    return result;
  };
  std::string_view gateway, leaf;
  if (!split_topic(topic, gateway, leaf)) return refuse("bad_topic", fmt::format("\"{}\" is not an uplink v1 topic", topic));
  const auto received = now_ms();
  if (leaf == "status") {
    set_status_.bind(1, gateway).bind(2, payload).bind(3, received);
    const int rc = set_status_.step();
    set_status_.reset();
    if (rc != SQLITE_DONE) return refuse("store_error", db_.error_message());
    result.ok = true;
    return result;
  }

  auto batch = decompress_batch(payload, max_batch_json);
  if (!batch.error.empty()) return refuse("bad_payload", batch.error);
  simdjson::ondemand::parser parser;
  simdjson::padded_string json(batch.json);
  struct parsed_record {
    std::int64_t seq;
    std::string body;
    std::string device;
    std::int64_t period_s = 0, start_ms = 0, revision = 0;
    std::string incident;  // events and alarms: set for an incident
  };
  std::vector<parsed_record> records;
  try {
    auto doc = parser.iterate(json);
    if (std::int64_t(doc["v"]) != uplink_protocol_version) return refuse("bad_version", "unsupported protocol version");
    if (std::string_view(doc["gateway"]) != gateway) return refuse("gateway_mismatch", "gateway in payload differs from topic");
    if (std::string_view(doc["stream"]) != leaf) return refuse("stream_mismatch", "stream in payload differs from topic");
    for (auto value : doc["records"].get_array()) {
      simdjson::ondemand::object object = value.get_object();
      parsed_record record;
      record.body = std::string(std::string_view(object.raw_json().value()));
      object.reset();
      record.seq = std::int64_t(object["seq"]);
      if (record.seq < 1) return refuse("bad_payload", "seq must be positive");
      if (leaf == "aggregates" || leaf == "events" || leaf == "alarms") {
        object.reset();
        for (auto field : object) {
          const std::string_view name = field.unescaped_key();
          if (name == "device") record.device = std::string(std::string_view(field.value()));
          else if (name == "period_s") record.period_s = std::int64_t(field.value());
          else if (name == "start_ms" && leaf == "aggregates") record.start_ms = std::int64_t(field.value());
          else if (name == "revision") record.revision = std::int64_t(field.value());
          else if (name == "incident") record.incident = std::string(std::string_view(field.value()));
        }
      }
      records.push_back(std::move(record));
    }
  } catch (const simdjson::simdjson_error& error) {
    return refuse("bad_payload", fmt::format("JSON: {}", error.what()));
  }

  sqlite::transaction txn(db_);
  if (txn.begin_result() != SQLITE_OK) return refuse("store_error", db_.error_message());
  for (const auto& record : records) {
    insert_record_.bind(1, gateway).bind(2, leaf).bind(3, record.seq).bind(4, received).bind(5, std::string_view(record.body));
    int rc = insert_record_.step();
    insert_record_.reset();
    if (rc != SQLITE_DONE) return refuse("store_error", db_.error_message());
    if (db_.changes() == 0) {
      ++result.duplicates;
      continue;
    }
    ++result.stored;
    if (leaf == "aggregates" && !record.device.empty()) {
      upsert_aggregate_.bind(1, gateway)
          .bind(2, std::string_view(record.device))
          .bind(3, record.period_s)
          .bind(4, record.start_ms)
          .bind(5, record.revision)
          .bind(6, std::string_view(record.body));
      rc = upsert_aggregate_.step();
      upsert_aggregate_.reset();
      if (rc != SQLITE_DONE) return refuse("store_error", db_.error_message());
    } else if (!record.incident.empty() && !record.device.empty()) {
      upsert_incident_.bind(1, gateway)
          .bind(2, std::string_view(record.device))
          .bind(3, std::string_view(record.incident))
          .bind(4, record.revision)
          .bind(5, std::string_view(record.body));
      rc = upsert_incident_.step();
      upsert_incident_.reset();
      if (rc != SQLITE_DONE) return refuse("store_error", db_.error_message());
    }
  }
  add_stats_.bind(1, gateway).bind(2, leaf).bind(3, static_cast<std::int64_t>(result.duplicates))
      .bind(4, static_cast<std::int64_t>(payload.size()));
  int rc = add_stats_.step();
  add_stats_.reset();
  if (rc != SQLITE_DONE || txn.commit() != SQLITE_OK) return refuse("store_error", db_.error_message());
  result.ok = true;
  return result;
}

std::vector<central_stream_summary> central_store::summary() {
  std::vector<central_stream_summary> rows;
  // Sequence numbers start at 1 and have no gaps at the source: whatever is
  // missing below the highest one received is a gap (still in transit, or lost).
  auto stmt = db_.prepare(
      "SELECT r.gateway, r.stream, count(*), max(r.seq), s.duplicates, s.batches, s.wire_bytes "
      "FROM records r LEFT JOIN stream_stats s ON s.gateway = r.gateway AND s.stream = r.stream "
      "GROUP BY r.gateway, r.stream ORDER BY r.gateway, r.stream");
  while (stmt.step() == SQLITE_ROW) {
    central_stream_summary row;
    row.gateway = std::string(stmt.column_text(0));
    row.stream = std::string(stmt.column_text(1));
    row.records = stmt.column_int(2);
    row.max_seq = stmt.column_int(3);
    row.gaps = row.max_seq - row.records;
    row.duplicates = stmt.column_int(4);
    row.batches = stmt.column_int(5);
    row.wire_bytes = stmt.column_int(6);
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string format_central_summary(const std::vector<central_stream_summary>& rows) {
  std::string out = fmt::format("{:<20} {:<11} {:>9} {:>9} {:>6} {:>10} {:>8} {:>12}\n", "gateway", "stream", "records",
                                "max seq", "gaps", "duplicates", "batches", "wire bytes");
  for (const auto& row : rows) {
    out += fmt::format("{:<20} {:<11} {:>9} {:>9} {:>6} {:>10} {:>8} {:>12}\n", row.gateway, row.stream, row.records,
                       row.max_seq, row.gaps, row.duplicates, row.batches, row.wire_bytes);
  }
  return out;
}

}  // namespace communegw
