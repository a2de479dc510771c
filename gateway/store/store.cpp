#include "gateway/store/store.hpp"

#include <sys/statvfs.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <unordered_set>

#include <boost/container/small_vector.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "gateway/model/byte_loads.hpp"
#include "gateway/model/json_text.hpp"
#include "gateway/store/schema.hpp"

namespace communegw {
namespace {

constexpr std::int64_t flag_time_trusted = 1;
constexpr std::int64_t flag_device_time_suspect = 2;
constexpr std::int64_t flag_redelivered = 4;
// 8: re-stamped (gateway/store/restamp.cpp).
// The broker's retained copy: the device may have sent it long before recv_ms.
constexpr std::int64_t flag_retained = 16;

// A device clock more than a day ahead of a trusted gateway clock, or before
// 2020, is kept but flagged.
constexpr std::int64_t device_time_floor_ms = 1'577'836'800'000;  // 2020-01-01
constexpr std::int64_t device_time_ahead_ms = 86'400'000;

// WAL size at which SQLite checkpoints, and back to which it truncates the file.
constexpr std::uint64_t wal_checkpoint_bytes = 1 << 20;
// ... and at which the writer checkpoints itself (wal_checkpointer.hpp), in multiples of that.
constexpr int wal_fallback_factor = 4;

bool is_full(int rc) { return (rc & 0xff) == SQLITE_FULL; }

// True for as long as it lives.
class raised_flag {
 public:
  explicit raised_flag(bool& flag) : flag_(flag) { flag_ = true; }
  ~raised_flag() { flag_ = false; }
  raised_flag(const raised_flag&) = delete;
  raised_flag& operator=(const raised_flag&) = delete;

 private:
  bool& flag_;
};

std::uint64_t disk_free(const std::filesystem::path& db_path) {
  struct statvfs info {};
  const auto dir = db_path.has_parent_path() ? db_path.parent_path() : std::filesystem::path(".");
  if (::statvfs(dir.c_str(), &info) != 0) return UINT64_MAX;  // unknown: do not shed because of it
  return static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
}

std::string problem_with(sqlite::database& db, startup_check check) {
  if (check == startup_check::off) return {};
  auto stmt = db.prepare(check == startup_check::full ? "PRAGMA integrity_check(20)" : "PRAGMA quick_check(20)");
  std::string problems;
  while (stmt.step() == SQLITE_ROW) {
    const auto line = stmt.column_text(0);
    if (line == "ok") return {};
    if (!problems.empty()) problems += "; ";
    problems += line;
  }
  return problems.empty() ? "integrity check returned nothing" : problems;
}

void move_aside(const std::filesystem::path& path, const std::string& suffix) {
  for (const auto* extension : {"", "-wal", "-shm"}) {
    const std::filesystem::path from = path.string() + extension;
    std::error_code ec;
    if (std::filesystem::exists(from, ec)) {
      std::filesystem::rename(from, path.string() + suffix + extension, ec);
      if (ec) throw store_error(fmt::format("cannot move damaged store {} aside: {}", from.string(), ec.message()));
    }
  }
}

// Opens the store and checks it; a file SQLite cannot read is moved aside
// and replaced by a fresh one. Losing history is bad; refusing to ingest
// forever because of one bad sector is worse.
sqlite::database open_checked(const store_settings& settings, store_open_report& report, std::int64_t now_ms) {
  const auto& path = settings.path;
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  report.created = !std::filesystem::exists(path, ec);
  std::string problem;
  try {
    sqlite::database db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    // Reading the schema catches "file is not a database" before the check.
    db.query_int("SELECT count(*) FROM sqlite_schema");
    problem = problem_with(db, settings.check);
    if (problem.empty()) return db;
  } catch (const sqlite::error& error) {
    if (!error.damaged_file()) throw;  // permissions, missing dir: not ours to fix
    problem = error.what();
  }
  const std::string suffix = fmt::format(".corrupt-{}", now_ms / 1000);
  move_aside(path, suffix);
  report.recovered = true;
  report.moved_aside_to = path.string() + suffix;
  report.recovery_reason = problem;
  report.created = true;
  return sqlite::database(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
}

}  // namespace

store::store(const store_settings& settings, const std::string& boot_id, std::int64_t now_ms)
    : settings_(settings),
      boot_id_(boot_id),
      db_(open_checked(settings, open_report_, now_ms)),
      recent_(static_cast<std::size_t>(settings.dedupe_window)) {
  apply_pragmas();
  migrate();
  prepare_statements();
  load_recent_identities();
  {
    auto stmt = db_.prepare("INSERT INTO boots(boot_id, first_seen_ms) VALUES(?, ?) ON CONFLICT(boot_id) DO NOTHING");
    stmt.bind(1, boot_id_).bind(2, now_ms).step();
    auto find = db_.prepare("SELECT id FROM boots WHERE boot_id = ?");
    find.bind(1, boot_id_);
    if (find.step() != SQLITE_ROW) throw store_error("cannot record this boot in the store: " + db_.error_message());
    boot_row_ = find.column_int(0);
  }
  if (open_report_.recovered) record_recovery(now_ms);
  ensure_reserve(disk_free(settings_.path));
  checkpointer_ = std::make_unique<wal_checkpointer>(settings_.path, settings_.synchronous_full);
}

void store::apply_pragmas() {
  // auto_vacuum must be chosen before the first table exists; INCREMENTAL lets
  // the disk-floor logic hand freed pages back to the filesystem.
  // 1 KiB pages, chosen (like auto_vacuum) when the store is created; an
  // existing store keeps its own. Between 500 and 5,000 msg/s the writer
  // commits every message or two (a small crash window), and each commit
  // appends at least one whole page to the WAL: with 4 KiB pages that wrote
  // ~23 bytes to disk per payload byte, with 1 KiB ~9.6 (bench/disk_by_rate.sh,
  // docs/durability.md). Backlog drains and commune rates gain a little too.
  db_.exec("PRAGMA page_size = 1024");
  db_.exec("PRAGMA auto_vacuum = INCREMENTAL");
  auto mode = db_.prepare("PRAGMA journal_mode = WAL");
  if (mode.step() != SQLITE_ROW || mode.column_text(0) != "wal") {
    throw store_error(fmt::format("{}: cannot switch the store to WAL mode", settings_.path.string()));
  }
  db_.exec(settings_.synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
  db_.exec("PRAGMA temp_store = MEMORY");
  page_size_ = static_cast<std::uint64_t>(db_.query_int("PRAGMA page_size"));
  // Keep the WAL small (a checkpoint per MiB, the file cut back to 1 MiB when
  // it starts over): it is disk space the store cannot shed, and on a full
  // disk a big WAL is what cannot be checkpointed. Counted in pages: 1024 of
  // 1 KiB, 256 of 4 KiB (with 256 1 KiB pages were checkpointed every 256 KiB).
  db_.exec(fmt::format("PRAGMA journal_size_limit = {}", wal_checkpoint_bytes));
  wal_checkpoint_pages_ = static_cast<int>(wal_checkpoint_bytes / page_size_);
  // Not SQLite's automatic checkpoint (wal_autocheckpoint, which this hook
  // replaces): it runs inside COMMIT, with two fsyncs, before the writer can
  // tell the MQTT thread that the batch is stored. While a backlog drained at
  // ~100k msg/s those fsyncs filled store.max_uncommitted and held the MQTT
  // thread back ~45 times per 200k messages. The writer asks the
  // checkpointer's thread after releasing the batch (checkpoint_if_due).
  // Every other commit on this connection (shedding, migrations, re-stamping)
  // checkpoints inline as SQLite would: shedding deletes chunk after chunk,
  // and with nothing checkpointing between them the WAL grew by each chunk's
  // pages until the disk-floor check, seeing free space shrink, had deleted
  // every message and alarm.
  sqlite3_wal_hook(
      db_.get(),
      [](void* self_pointer, sqlite3*, const char*, int pages) {
        auto& self = *static_cast<store*>(self_pointer);
        self.wal_pages_ = pages;
        if (!self.in_ingest_write_ && pages >= self.wal_checkpoint_pages_) self.checkpoint_here();
        return SQLITE_OK;
      },
      this);
}

void store::migrate() {
  const auto version = db_.query_int("PRAGMA user_version");
  const auto& steps = schema_migrations();
  if (version > static_cast<std::int64_t>(steps.size())) {
    throw store_error(fmt::format("{}: schema version {} is newer than this communegw understands ({}); "
                                  "refusing to touch it (was a newer version installed before?)",
                                  settings_.path.string(), version, steps.size()));
  }
  for (auto step = static_cast<std::size_t>(version); step < steps.size(); ++step) {
    sqlite::transaction txn(db_);
    if (txn.begin_result() != SQLITE_OK) throw store_error("cannot begin a migration: " + db_.error_message());
    db_.exec(steps[step]);
    db_.exec(fmt::format("PRAGMA user_version = {}", step + 1));
    if (txn.commit() != SQLITE_OK) throw store_error("cannot commit a migration: " + db_.error_message());
  }
  open_report_.schema_version = static_cast<int>(steps.size());
  const auto scheme = db_.query_int("SELECT value FROM store_settings WHERE name = 'identity_scheme'");
  if (scheme != static_cast<int>(identity_scheme::fnv1a_64) && scheme != static_cast<int>(identity_scheme::xxh64)) {
    throw store_error(fmt::format("{}: store_settings.identity_scheme is {}, which this communegw does not know",
                                  settings_.path.string(), scheme));
  }
  identity_scheme_ = static_cast<identity_scheme>(scheme);
  // The metric catalogue lives in the code; mirror it so plain SQL can see units.
  sqlite::transaction txn(db_);
  db_.exec("DELETE FROM metrics");
  auto insert = db_.prepare("INSERT INTO metrics(name, unit, description) VALUES(?, ?, ?)");
  for (const auto& metric : metric_catalogue()) {
    insert.bind(1, metric.name).bind(2, metric.unit).bind(3, metric.description).step();
    insert.reset();
  }
  if (txn.commit() != SQLITE_OK) throw store_error("cannot write the metric catalogue: " + db_.error_message());
}

void store::load_recent_identities() {
  auto saved = db_.prepare("SELECT id, last_identity FROM topics WHERE last_identity IS NOT NULL");
  while (saved.step() == SQLITE_ROW) {
    topic_last_identity_[saved.column_int(0)] = static_cast<std::uint64_t>(saved.column_int(1));
  }
  // Newest first from the store, inserted oldest first so eviction order is
  // kept. The newest message of a topic in this tail overrides what was saved.
  auto stmt = db_.prepare("SELECT identity, topic FROM messages WHERE identity IS NOT NULL ORDER BY id DESC LIMIT ?");
  stmt.bind(1, static_cast<std::int64_t>(settings_.dedupe_window));
  std::vector<std::uint64_t> ids;
  std::unordered_set<std::int64_t> newest_seen;
  while (stmt.step() == SQLITE_ROW) {
    const auto identity = static_cast<std::uint64_t>(stmt.column_int(0));
    ids.push_back(identity);
    if (const auto topic = stmt.column_int(1); newest_seen.insert(topic).second) topic_last_identity_[topic] = identity;
  }
  for (auto it = ids.rbegin(); it != ids.rend(); ++it) recent_.insert(*it);
}

void store::prepare_statements() {
  insert_event_ = db_.prepare(
      "INSERT INTO events(message, device, kind, severity, start_ms, end_ms, recv_ms, boot, mono_ms, flags, attributes, "
      "incident, closed, folded, queued_revision) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  find_incident_ = db_.prepare(
      "SELECT id, severity, start_ms, end_ms, closed, attributes FROM events WHERE device = ? AND incident = ?");
  // Newest value per attribute, except "score" (the highest) and "zones" (the
  // union, in the order first seen): an update that arrives out of order
  // never lowers what the incident reached.
  merge_attributes_ = db_.prepare(R"sql(
WITH patched(j) AS (SELECT json_patch(?1, ?2)),
scored(j) AS (SELECT CASE WHEN json_type(?1, '$.score') IN ('integer', 'real') AND json_type(?2, '$.score') IN ('integer', 'real')
                     THEN json_set(j, '$.score', max(json_extract(?1, '$.score'), json_extract(?2, '$.score'))) ELSE j END
              FROM patched)
SELECT CASE WHEN json_type(?1, '$.zones') = 'array' AND json_type(?2, '$.zones') = 'array'
       THEN json_set(j, '$.zones', (SELECT json_group_array(value) FROM (
              SELECT value, min(o * 1000000 + k) AS first FROM (
                SELECT value, 0 AS o, CAST(key AS INTEGER) AS k FROM json_each(?1, '$.zones')
                UNION ALL SELECT value, 1, CAST(key AS INTEGER) FROM json_each(?2, '$.zones'))
              GROUP BY value ORDER BY first)))
       ELSE j END
FROM scored)sql");
  update_incident_ = db_.prepare(
      "UPDATE events SET severity = ?, start_ms = ?, end_ms = ?, closed = ?, attributes = ?, revision = revision + 1, "
      "updated_ms = ? WHERE id = ?");
  insert_quarantine_ = db_.prepare(
      "INSERT INTO quarantine(recv_ms, topic, payload, payload_size, reason, detail) VALUES(?, ?, ?, ?, ?, ?)");
  trim_quarantine_ = db_.prepare("DELETE FROM quarantine WHERE id <= ?");
  find_device_ = db_.prepare("SELECT id FROM devices WHERE name = ?");
  insert_device_ = db_.prepare("INSERT INTO devices(name, kind, first_seen_ms) VALUES(?, ?, ?)");
  find_topic_ = db_.prepare("SELECT id FROM topics WHERE topic = ?");
  save_topic_identity_ = db_.prepare("UPDATE topics SET last_identity = ? WHERE id = ?");
  save_last_seen_ = db_.prepare("UPDATE devices SET last_seen_ms = max(coalesce(last_seen_ms, 0), ?) WHERE id = ?");
  save_last_seen_through_ = db_.prepare(
      "INSERT INTO cursors(name, value) VALUES(?1, (SELECT coalesce(max(id), 0) FROM messages)) "
      "ON CONFLICT(name) DO UPDATE SET value = excluded.value");
  insert_topic_ = db_.prepare("INSERT INTO topics(topic) VALUES(?)");
  // The state and its retained mark change together; since_ms only when the state does.
  // A change of state (not a repeat of it) is also kept as history.
  record_availability_change_ = db_.prepare(
      "INSERT INTO availability_history(device, state, device_ms, recv_ms, retained) SELECT ?1, ?2, ?3, ?4, ?5 "
      "WHERE (SELECT availability FROM devices WHERE id = ?1) IS NOT ?2");
  update_availability_ = db_.prepare(
      "UPDATE devices SET availability_since_ms = CASE WHEN availability IS ?1 THEN availability_since_ms ELSE ?2 END, "
      "availability = ?1, availability_retained = ?3 WHERE id = ?4");
  add_counter_ = db_.prepare(
      "INSERT INTO counters(name, value) VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value");
}

int store::update_availability(std::int64_t device, availability state, std::optional<std::int64_t> device_ms,
                               const received_message& item) {
  record_availability_change_.bind(1, device)
      .bind(2, to_string(state))
      .bind(3, device_ms)
      .bind(4, item.received.wall_ms)
      .bind(5, std::int64_t{item.retained ? 1 : 0});
  const int history_rc = record_availability_change_.step();
  record_availability_change_.reset();
  if (history_rc != SQLITE_DONE) return history_rc;
  update_availability_.bind(1, to_string(state))
      .bind(2, item.received.wall_ms)
      .bind(3, std::int64_t{item.retained ? 1 : 0})
      .bind(4, device);
  const int rc = update_availability_.step();
  update_availability_.reset();
  if (rc == SQLITE_DONE) ++deltas_.availability_reports;
  return rc;
}

std::size_t interned_name_hash::operator()(std::string_view name) const noexcept {
  const auto mix = [](std::uint64_t hash, std::uint64_t word) {
    hash = (hash ^ word) * 0xff51afd7ed558ccdULL;
    return hash ^ (hash >> 32);
  };
  std::uint64_t hash = 0x9e3779b97f4a7c15ULL ^ name.size();
  const char* p = name.data();
  std::size_t left = name.size();
  for (; left > 8; left -= 8, p += 8) hash = mix(hash, load_le64(p));
  if (name.size() >= 8) {
    hash = mix(hash, load_le64(name.data() + name.size() - 8));  // the last 8 bytes, overlapping the loop's
  } else if (left > 0) {
    std::uint64_t tail = 0;
    std::memcpy(&tail, p, left);
    hash = mix(hash, tail);
  }
  hash *= 0xc4ceb9fe1a85ec53ULL;
  return static_cast<std::size_t>(hash ^ (hash >> 29));
}

std::int64_t store::device_id(const decoded_message& message, std::int64_t now_ms) {
  if (const auto it = device_ids_.find(message.device_id); it != device_ids_.end()) return it->second;
  std::int64_t id = 0;
  find_device_.bind(1, message.device_id);
  if (find_device_.step() == SQLITE_ROW) {
    id = find_device_.column_int(0);
  } else {
    insert_device_.bind(1, message.device_id).bind(2, to_string(message.kind)).bind(3, now_ms);
    const int rc = insert_device_.step();
    insert_device_.reset();
    if (rc != SQLITE_DONE) {
      find_device_.reset();
      return -rc;  // negative: an SQLite error code
    }
    id = db_.last_insert_rowid();
  }
  find_device_.reset();
  device_ids_.emplace(message.device_id, id);
  return id;
}

std::int64_t store::topic_id(const std::string& topic) {
  if (const auto it = topic_ids_.find(topic); it != topic_ids_.end()) return it->second;
  std::int64_t id = 0;
  find_topic_.bind(1, topic);
  if (find_topic_.step() == SQLITE_ROW) {
    id = find_topic_.column_int(0);
  } else {
    insert_topic_.bind(1, topic);
    const int rc = insert_topic_.step();
    insert_topic_.reset();
    if (rc != SQLITE_DONE) {
      find_topic_.reset();
      return -rc;
    }
    id = db_.last_insert_rowid();
  }
  find_topic_.reset();
  topic_ids_.emplace(topic, id);
  return id;
}

int store::quarantine(const received_message& message, const rejection& why) {
  deltas_.rejected[static_cast<std::size_t>(why.reason)] += 1;
  if (settings_.quarantine_rows == 0) return SQLITE_DONE;
  const std::string_view excerpt(message.payload_excerpt.data(),
                                 std::min(message.payload_excerpt.size(), quarantine_excerpt_bytes));
  insert_quarantine_.bind(1, message.received.wall_ms)
      .bind(2, std::string_view(message.topic).substr(0, 512))
      .bind_blob(3, excerpt)
      .bind(4, static_cast<std::int64_t>(message.payload_size))
      .bind(5, to_string(why.reason))
      .bind(6, std::string_view(why.detail).substr(0, 512));
  const int rc = insert_quarantine_.step();
  insert_quarantine_.reset();
  return rc;
}

void store::counter_deltas::add(const counter_deltas& other) {
  stored_messages += other.stored_messages;
  stored_readings += other.stored_readings;
  stored_events += other.stored_events;
  duplicates += other.duplicates;
  retained_repeats += other.retained_repeats;
  availability_reports += other.availability_reports;
  updated_incidents += other.updated_incidents;
  for (std::size_t i = 0; i < rejected.size(); ++i) rejected[i] += other.rejected[i];
  messages_stored += other.messages_stored;
  messages_availability_only += other.messages_availability_only;
  messages_rejected += other.messages_rejected;
  for (std::size_t i = 0; i < messages_ignored.size(); ++i) messages_ignored[i] += other.messages_ignored[i];
}

bool store::counter_deltas::has_rejections() const {
  for (const auto count : rejected) {
    if (count != 0) return true;
  }
  return false;
}

void store::checkpoint() {
  wal_pages_requested_ = wal_pages_;
  checkpointer_->request();
}

void store::checkpoint_here() {
  sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  wal_pages_ = 0;  // the next commit starts the WAL over
  wal_pages_requested_ = 0;
}

bool store::checkpoint_if_due() {
  if (wal_pages_ < wal_pages_requested_) wal_pages_requested_ = 0;  // the WAL started over
  if (wal_pages_ >= wal_fallback_factor * wal_checkpoint_pages_) {
    checkpoint_here();
    return true;
  }
  if (wal_pages_ - wal_pages_requested_ < wal_checkpoint_pages_) return false;
  checkpoint();
  return true;
}

void store::flush_counters_now() {
  deltas_ = {};
  sqlite::transaction txn(db_);
  if (txn.begin_result() != SQLITE_OK || flush_counters() != SQLITE_DONE || txn.commit() != SQLITE_OK) return;
  unflushed_ = {};
  counters_flushed_at_ = std::chrono::steady_clock::now();
}

void store::flush_at_shutdown() {
  deltas_ = {};
  sqlite::transaction txn(db_);
  if (txn.begin_result() != SQLITE_OK || flush_counters() != SQLITE_DONE || save_topic_identities() != SQLITE_DONE ||
      save_last_seen() != SQLITE_DONE || txn.commit() != SQLITE_OK) {
    return;  // the tail of `messages` still covers what was not saved
  }
  unflushed_ = {};
  unsaved_topics_.clear();
  stored_since_topic_save_ = 0;
  unsaved_last_seen_.clear();
}

// Inside the caller's transaction.
int store::save_topic_identities() {
  // One UPDATE per topic, not one per message stored since the last save.
  std::sort(unsaved_topics_.begin(), unsaved_topics_.end());
  unsaved_topics_.erase(std::unique(unsaved_topics_.begin(), unsaved_topics_.end()), unsaved_topics_.end());
  for (const auto topic : unsaved_topics_) {
    const auto it = topic_last_identity_.find(topic);
    if (it == topic_last_identity_.end()) continue;
    save_topic_identity_.bind(1, static_cast<std::int64_t>(it->second)).bind(2, topic);
    const int rc = save_topic_identity_.step();
    save_topic_identity_.reset();
    if (rc != SQLITE_DONE) return rc;
  }
  return SQLITE_DONE;
}

// Inside the caller's transaction.
int store::save_last_seen() {
  for (const auto& [device, seen_ms] : unsaved_last_seen_) {
    save_last_seen_.bind(1, seen_ms).bind(2, device);
    const int rc = save_last_seen_.step();
    save_last_seen_.reset();
    if (rc != SQLITE_DONE) return rc;
  }
  save_last_seen_through_.bind(1, last_seen_through_cursor);
  const int rc = save_last_seen_through_.step();
  save_last_seen_through_.reset();
  return rc;
}

void store::heard_from(std::int64_t device, const received_message& item) {
  if (item.retained) return;  // the broker's stored copy: maybe long ago
  auto [it, added] = unsaved_last_seen_.try_emplace(device, item.received.wall_ms);
  batch_last_seen_undo_.emplace_back(device, added ? 0 : it->second);
  it->second = std::max(it->second, item.received.wall_ms);
}

bool store::is_repeat(const received_message& item, std::int64_t topic) const {
  if (item.identity == 0) return false;
  if ((item.identity_unique || item.redelivered) && recent_.contains(item.identity)) return true;
  if (item.retained) {
    const auto it = topic_last_identity_.find(topic);
    return it != topic_last_identity_.end() && it->second == item.identity;
  }
  return false;
}

void store::remember(const received_message& item, std::int64_t topic) {
  if (item.identity == 0) return;
  // Remembered now, so a copy later in the same batch is a duplicate too;
  // forgotten again if the transaction fails. An identity already known (an
  // equal message without seq or time, stored before) stays as it was.
  if (!recent_.contains(item.identity)) {
    recent_.insert(item.identity);
    batch_identities_.push_back(item.identity);
  }
  auto [it, added] = topic_last_identity_.try_emplace(topic, item.identity);
  batch_topic_undo_.emplace_back(topic, added ? 0 : it->second);
  it->second = item.identity;
  unsaved_topics_.push_back(topic);
}

void store::flush_counters_if_due() {
  // Every message has its outcome counted: any of them means counts are pending.
  const bool pending = unflushed_.messages_stored || unflushed_.messages_availability_only ||
                       unflushed_.messages_rejected || unflushed_.duplicates || unflushed_.retained_repeats ||
                       std::any_of(unflushed_.messages_ignored.begin(), unflushed_.messages_ignored.end(),
                                   [](std::int64_t count) { return count != 0; });
  if (pending && std::chrono::steady_clock::now() - counters_flushed_at_ >= std::chrono::seconds(1)) flush_counters_now();
}

// Writes unflushed_ + deltas_ inside the caller's transaction.
int store::flush_counters() {
  counter_deltas total = unflushed_;
  total.add(deltas_);
  auto add = [&](std::string_view name, std::int64_t delta) {
    if (delta == 0) return SQLITE_DONE;
    add_counter_.bind(1, name).bind(2, delta);
    const int rc = add_counter_.step();
    add_counter_.reset();
    return rc;
  };
  int rc = SQLITE_DONE;
  for (const auto& [name, delta] : {std::pair{counter::stored_messages, total.stored_messages},
                                    std::pair{counter::stored_readings, total.stored_readings},
                                    std::pair{counter::stored_events, total.stored_events},
                                    std::pair{counter::duplicates, total.duplicates},
                                    std::pair{counter::retained_repeats, total.retained_repeats},
                                    std::pair{counter::availability_reports, total.availability_reports},
                                    std::pair{counter::updated_incidents, total.updated_incidents}}) {
    if ((rc = add(name, delta)) != SQLITE_DONE) return rc;
  }
  for (const auto& [name, delta] : {std::pair{counter::messages_stored, total.messages_stored},
                                    std::pair{counter::messages_availability_only, total.messages_availability_only},
                                    std::pair{counter::messages_rejected, total.messages_rejected}}) {
    if ((rc = add(name, delta)) != SQLITE_DONE) return rc;
  }
  for (std::size_t i = 0; i < ignore_reason_count; ++i) {
    if (total.messages_ignored[i] == 0) continue;
    const auto name = fmt::format("{}{}", counter::messages_ignored_prefix, to_string(static_cast<ignore_reason>(i)));
    if ((rc = add(name, total.messages_ignored[i])) != SQLITE_DONE) return rc;
  }
  for (std::size_t i = 0; i < reject_reason_count; ++i) {
    if (total.rejected[i] == 0) continue;
    if ((rc = add(fmt::format("rejected.{}", to_string(static_cast<reject_reason>(i))), total.rejected[i])) != SQLITE_DONE) {
      return rc;
    }
  }
  return SQLITE_DONE;
}

write_outcome store::write(std::span<const received_message> batch) {
  // This commit's checkpoint is the writer's to ask for (checkpoint_if_due).
  const raised_flag ingest_write(in_ingest_write_);
  write_outcome outcome;
  deltas_ = {};
  batch_identities_.clear();
  batch_topic_undo_.clear();
  batch_last_seen_undo_.clear();
  auto fail = [&](int rc) {
    for (auto it = batch_last_seen_undo_.rbegin(); it != batch_last_seen_undo_.rend(); ++it) {
      if (it->second == 0) unsaved_last_seen_.erase(it->first);
      else unsaved_last_seen_[it->first] = it->second;
    }
    for (const auto id : batch_identities_) recent_.erase(id);
    for (auto it = batch_topic_undo_.rbegin(); it != batch_topic_undo_.rend(); ++it) {
      if (it->second == 0) topic_last_identity_.erase(it->first);
      else topic_last_identity_[it->first] = it->second;
    }
    new_messages_.clear();
    outcome.status = is_full(rc) ? write_status::full : write_status::failed;
    outcome.error = fmt::format("{} ({})", db_.error_message(), rc);
    // Rows inserted by the rolled-back transaction are gone: forget cached ids.
    device_ids_.clear();
    topic_ids_.clear();
    deltas_ = {};
    return outcome;
  };

  sqlite::transaction txn(db_);
  if (txn.begin_result() != SQLITE_OK) return fail(txn.begin_result());
  bool quarantined = false;

  for (const auto& item : batch) {
    if (const auto* error = std::get_if<rejection>(&item.result)) {
      if (const int rc = quarantine(item, *error); rc != SQLITE_DONE) return fail(rc);
      quarantined = true;
      ++outcome.rejected;
      ++deltas_.messages_rejected;
      continue;
    }
    const auto& message = std::get<decoded_message>(item.result);
    // The message itself and the other devices it reports for (see decoded_message).
    // Inline for the usual one or few parts: a heap vector here was a malloc and free per message.
    boost::container::small_vector<const decoded_message*, 4> parts{&message};
    for (const auto& other : message.other_devices) parts.push_back(&other);
    bool has_records = false, has_availability = false, has_field_rejections = false;
    for (const auto* part : parts) {
      for (const auto& field : part->field_rejections) {
        if (const int rc = quarantine(item, field); rc != SQLITE_DONE) return fail(rc);
        quarantined = true;
        has_field_rejections = true;
        ++outcome.field_rejections;
      }
      if (part->reported_availability) {
        has_availability = true;
        const auto device = device_id(*part, item.received.wall_ms);
        if (device < 0) return fail(static_cast<int>(-device));
        if (const int rc = update_availability(device, *part->reported_availability, part->device_time_ms, item);
            rc != SQLITE_DONE) {
          return fail(rc);
        }
        heard_from(device, item);
      }
      has_records = has_records || !part->readings.empty() || !part->events.empty();
    }
    if (!has_records) {
      if (has_availability) ++deltas_.messages_availability_only;
      else if (has_field_rejections) ++deltas_.messages_rejected;  // every value in it refused
      else ++deltas_.messages_ignored[static_cast<std::size_t>(why_ignored(message).value_or(ignore_reason::no_readings))];
      continue;
    }
    const auto topic = topic_id(item.topic);
    if (topic < 0) return fail(static_cast<int>(-topic));
    if (is_repeat(item, topic)) {
      ++outcome.duplicates;
      ++(item.retained ? deltas_.retained_repeats : deltas_.duplicates);
      continue;
    }
    ++deltas_.messages_stored;
    std::int64_t flags = item.received.trusted ? flag_time_trusted : 0;
    if (item.redelivered) flags |= flag_redelivered;
    if (item.retained) flags |= flag_retained;
    for (const auto* part : parts) {
      if (part->readings.empty() && part->events.empty()) continue;
      // Each part's own device time is judged: a Sparkplug message carries
      // samples of several times (historical metrics), one part per time.
      auto part_flags = flags;
      if (part->device_time_ms &&
          (*part->device_time_ms < device_time_floor_ms ||
           (item.received.trusted && *part->device_time_ms > item.received.wall_ms + device_time_ahead_ms))) {
        part_flags |= flag_device_time_suspect;
      }
      if (const int rc = write_part(*part, item, topic, part_flags); rc != SQLITE_DONE) return fail(rc);
    }
    remember(item, topic);
    ++outcome.stored;
  }
  if (const int rc = new_messages_.flush(); rc != SQLITE_DONE) return fail(rc);

  if (quarantined) {
    const auto newest = db_.query_int("SELECT coalesce(max(id), 0) FROM quarantine");
    trim_quarantine_.bind(1, newest - static_cast<std::int64_t>(settings_.quarantine_rows));
    const int rc = trim_quarantine_.step();
    trim_quarantine_.reset();
    if (rc != SQLITE_DONE) return fail(rc);
  }
  const auto now = std::chrono::steady_clock::now();
  const bool write_counters = deltas_.has_rejections() || now - counters_flushed_at_ >= std::chrono::seconds(1);
  if (write_counters) {
    if (const int rc = flush_counters(); rc != SQLITE_DONE) return fail(rc);
  }
  // Before the dedupe window can have rolled past what was stored since the
  // last save (see topic_last_identity_).
  stored_since_topic_save_ += outcome.stored;
  const bool save_topics = stored_since_topic_save_ >= std::max<std::uint64_t>(1, settings_.dedupe_window / 2);
  if (save_topics) {
    if (const int rc = save_topic_identities(); rc != SQLITE_DONE) return fail(rc);
  }
  const bool save_seen = !unsaved_last_seen_.empty() && now - last_seen_saved_at_ >= last_seen_save_interval;
  if (save_seen) {
    if (const int rc = save_last_seen(); rc != SQLITE_DONE) return fail(rc);
  }
  if (const int rc = txn.commit(); rc != SQLITE_OK) return fail(rc);
  if (save_seen) {
    unsaved_last_seen_.clear();
    last_seen_saved_at_ = now;
  }
  if (write_counters) {
    unflushed_ = {};
    counters_flushed_at_ = now;
  } else {
    unflushed_.add(deltas_);
  }
  if (save_topics) {
    unsaved_topics_.clear();
    stored_since_topic_save_ = 0;
  } else if (unsaved_topics_.size() > 4 * topic_last_identity_.size() + 1024) {
    // Keep the list of topics to save bounded: one entry per topic suffices.
    std::sort(unsaved_topics_.begin(), unsaved_topics_.end());
    unsaved_topics_.erase(std::unique(unsaved_topics_.begin(), unsaved_topics_.end()), unsaved_topics_.end());
  }
  return outcome;
}

// One device's records of a stored message: the message row with its readings, then its events.
int store::write_part(const decoded_message& part, const received_message& item, std::int64_t topic, std::int64_t flags) {
  const auto device = device_id(part, item.received.wall_ms);
  if (device < 0) return static_cast<int>(-device);
  heard_from(device, item);
  // Hot path: the readings JSON is written by hand into a buffer with room
  // for the longest text (no growth checks per character), numbers in their
  // shortest round-trip form.
  std::size_t longest = 2;
  for (const auto& r : part.readings) longest += r.metric->name.size() + 4 + json_number_max_chars;
  char* out = new_messages_.add({.device = device,
                                 .topic = topic,
                                 .seq = part.sequence,
                                 .device_ms = part.device_time_ms,
                                 .recv_ms = item.received.wall_ms,
                                 .boot = boot_row_,
                                 .mono_ms = item.received.monotonic_ms,
                                 .flags = flags,
                                 .identity = item.identity},
                                longest);
  *out++ = '{';
  for (const auto& r : part.readings) {
    if (out[-1] != '{') *out++ = ',';
    *out++ = '"';
    out = std::copy(r.metric->name.begin(), r.metric->name.end(), out);
    *out++ = '"';
    *out++ = ':';
    out = write_json_number(out, r.value);
  }
  *out++ = '}';
  new_messages_.end_readings(out);
  ++deltas_.stored_messages;
  deltas_.stored_readings += static_cast<std::int64_t>(part.readings.size());
  if (part.events.empty()) return new_messages_.full() ? new_messages_.flush() : SQLITE_DONE;
  // The events refer to the message row: insert it (the last queued) now.
  if (const int rc = new_messages_.flush(); rc != SQLITE_DONE) return rc;
  const auto message_row = db_.last_insert_rowid();
  for (const auto& ev : part.events) {
    if (const int event_rc = write_event(ev, message_row, device, item, flags); event_rc != SQLITE_DONE) return event_rc;
  }
  return SQLITE_DONE;
}

int store::write_event(const event& ev, std::int64_t message_row, std::int64_t device, const received_message& item,
                       std::int64_t flags) {
  if (!ev.incident.empty()) {
    find_incident_.bind(1, device).bind(2, std::string_view(ev.incident));
    const int found = find_incident_.step();
    find_incident_.reset();
    if (found == SQLITE_ROW) return update_incident(ev, device, item);
    if (found != SQLITE_DONE) return found;
  }
  insert_event_.bind(1, message_row)
      .bind(2, device)
      .bind(3, std::string_view(ev.kind))
      .bind(4, static_cast<std::int64_t>(ev.level))
      .bind(5, ev.start_ms)
      .bind(6, ev.end_ms)
      .bind(7, item.received.wall_ms)
      .bind(8, boot_row_)
      .bind(9, item.received.monotonic_ms)
      .bind(10, flags)
      .bind(11, std::string_view(ev.attributes_json));
  if (ev.incident.empty()) {
    insert_event_.bind_null(12).bind(13, std::int64_t{1}).bind_null(14).bind_null(15);
  } else {
    // Not yet counted by the aggregator, revision 0 queued for the uplink.
    insert_event_.bind(12, std::string_view(ev.incident))
        .bind(13, std::int64_t{ev.closed ? 1 : 0})
        .bind(14, std::int64_t{0})
        .bind(15, std::int64_t{0});
  }
  const int rc = insert_event_.step();
  insert_event_.reset();
  if (rc == SQLITE_DONE) ++deltas_.stored_events;
  return rc;
}

// A later report of a stored incident: the row keeps the earliest start, the
// latest end, the highest severity and the merged attributes, and gets a new
// revision. A report that changes nothing (a copy, an older update arriving
// late) leaves the row and its revision alone.
int store::update_incident(const event& ev, std::int64_t device, const received_message& item) {
  find_incident_.bind(1, device).bind(2, std::string_view(ev.incident));
  int rc = find_incident_.step();
  if (rc != SQLITE_ROW) {
    find_incident_.reset();
    return rc;
  }
  const auto id = find_incident_.column_int(0);
  const auto old_level = find_incident_.column_int(1);
  const auto column_optional = [&](int column) {
    return find_incident_.column_is_null(column) ? std::nullopt : std::optional<std::int64_t>(find_incident_.column_int(column));
  };
  const auto old_start = column_optional(2);
  const auto old_end = column_optional(3);
  const bool old_closed = find_incident_.column_int(4) != 0;
  const std::string old_attributes(find_incident_.column_text(5));
  find_incident_.reset();

  merge_attributes_.bind(1, std::string_view(old_attributes)).bind(2, std::string_view(ev.attributes_json));
  rc = merge_attributes_.step();
  const std::string merged = rc == SQLITE_ROW ? std::string(merge_attributes_.column_text(0)) : std::string();
  merge_attributes_.reset();
  if (rc != SQLITE_ROW) return rc;

  const auto earliest = [](std::optional<std::int64_t> a, std::optional<std::int64_t> b) {
    return !a ? b : !b ? a : std::optional<std::int64_t>(std::min(*a, *b));
  };
  const auto latest = [](std::optional<std::int64_t> a, std::optional<std::int64_t> b) {
    return !a ? b : !b ? a : std::optional<std::int64_t>(std::max(*a, *b));
  };
  const auto level = std::max(old_level, static_cast<std::int64_t>(ev.level));
  const auto start = earliest(old_start, ev.start_ms);
  const auto end = latest(old_end, ev.end_ms);
  const bool closed = old_closed || ev.closed;
  if (level == old_level && start == old_start && end == old_end && closed == old_closed && merged == old_attributes) {
    return SQLITE_DONE;
  }
  update_incident_.bind(1, level)
      .bind(2, start)
      .bind(3, end)
      .bind(4, std::int64_t{closed ? 1 : 0})
      .bind(5, std::string_view(merged))
      .bind(6, item.received.wall_ms)
      .bind(7, id);
  rc = update_incident_.step();
  update_incident_.reset();
  if (rc == SQLITE_DONE) ++deltas_.updated_incidents;
  return rc;
}

void store::record_recovery(std::int64_t now_ms) {
  decoded_message self;
  self.device_id = "communegw";
  self.kind = device_kind::gateway;
  event ev;
  ev.kind = "store_recovered";
  ev.level = severity::alarm;
  ev.start_ms = now_ms;
  ev.attributes_json = "{\"moved_aside_to\":";
  append_json_string(ev.attributes_json, open_report_.moved_aside_to);
  ev.attributes_json += "}";
  self.events.push_back(std::move(ev));
  received_message item;
  item.topic = "communegw/self";
  item.received = {now_ms, 0, false};
  item.result = std::move(self);
  const auto outcome = write(std::span(&item, 1));
  if (outcome.status != write_status::ok) spdlog::error("store: could not record the recovery event: {}", outcome.error);
}

store_usage store::usage() {
  store_usage out;
  const auto pages = static_cast<std::uint64_t>(db_.query_int("PRAGMA page_count"));
  const auto free_pages = static_cast<std::uint64_t>(db_.query_int("PRAGMA freelist_count"));
  out.file_bytes = pages * page_size_;
  out.used_bytes = (pages - std::min(pages, free_pages)) * page_size_;
  std::error_code ec;
  const auto wal = std::filesystem::file_size(settings_.path.string() + "-wal", ec);
  out.wal_bytes = ec ? 0 : wal;
  out.disk_free_bytes = disk_free(settings_.path);
  return out;
}

// What the store gives up when over quota or below the disk floor, in this
// order: what is least valuable or already safe elsewhere first, alarms not
// yet sent to the centre last. "Aggregated" messages are those the aggregator
// has folded (its cursor); "sent" events are those the uplink has queued.
// Each step deletes the oldest rows first. docs/storage.md explains the order.
struct shed_step {
  std::string_view counter;
  const char* sql;  // ?1: how many rows at most
  // Sent aggregate windows: `sql` moves the aggregator's horizon past the
  // oldest ?1 windows; everything before the horizon is then deleted.
  bool moves_aggregate_horizon = false;
};

namespace {

constexpr const char* aggregated_up_to = "(SELECT coalesce((SELECT value FROM cursors WHERE name = 'aggregate.messages'), 0))";
constexpr const char* events_queued_up_to = "(SELECT coalesce((SELECT value FROM cursors WHERE name = 'uplink.events'), 0))";

std::vector<shed_step> shed_steps() {
  using std::string;
  static const string aggregated_messages =
      string("DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE id <= ") + aggregated_up_to +
      " ORDER BY id LIMIT ?1)";
  // Queued: a one-off event at or below the uplink's cursor; a closed incident
  // whose last revision is queued (an open one may still change).
  static const string queued = string("((incident IS NULL AND id <= ") + events_queued_up_to +
                               ") OR (closed = 1 AND queued_revision = revision))";
  static const string queued_events =
      "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE severity < 2 AND " + queued + " ORDER BY id LIMIT ?1)";
  static const string queued_alarms =
      "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE severity >= 2 AND " + queued + " ORDER BY id LIMIT ?1)";
  return {
      {counter::shed_quarantine, "DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine ORDER BY id LIMIT ?1)"},
      // Raw readings waiting for the uplink (opt-in, lowest priority).
      {counter::shed_uplink_raw, "DELETE FROM outbox WHERE stream = 4 AND seq IN (SELECT seq FROM outbox WHERE stream = 4 ORDER BY seq LIMIT ?1)"},
      // Raw readings already folded into aggregates.
      {counter::shed_messages, aggregated_messages.c_str()},
      // Aggregates of periods that stay local (no upload bookkeeping), oldest windows first.
      {counter::shed_aggregates,
       "DELETE FROM aggregates WHERE (device, period_s, start_ms, metric) IN (SELECT device, period_s, start_ms, metric "
       "FROM aggregates a WHERE NOT EXISTS (SELECT 1 FROM aggregate_windows w WHERE w.device = a.device AND "
       "w.period_s = a.period_s AND w.start_ms = a.start_ms) ORDER BY start_ms LIMIT ?1)"},
      // Events the uplink has already queued (or sent), alarms kept.
      {counter::shed_events, queued_events.c_str()},
      // Raw readings not yet aggregated.
      {counter::shed_messages, "DELETE FROM messages WHERE id IN (SELECT id FROM messages ORDER BY id LIMIT ?1)"},
      // Unsent uplink records, least valuable stream first: old health, then events.
      {counter::shed_uplink_health, "DELETE FROM outbox WHERE stream = 1 AND seq IN (SELECT seq FROM outbox WHERE stream = 1 ORDER BY seq LIMIT ?1)"},
      {counter::shed_uplink_events, "DELETE FROM outbox WHERE stream = 3 AND seq IN (SELECT seq FROM outbox WHERE stream = 3 ORDER BY seq LIMIT ?1)"},
      {counter::shed_events, "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE severity < 2 ORDER BY severity, id LIMIT ?1)"},
      // Sent aggregate windows: the window's bookkeeping goes with it, and the
      // aggregator's horizon moves past it, so a late sample can never send a
      // partial revision of a window whose earlier samples are gone.
      {counter::shed_aggregates,
       "UPDATE cursors SET value = max(value, (SELECT coalesce(max(start_ms + period_s * 1000), 0) FROM (SELECT start_ms, period_s "
       "FROM aggregate_windows WHERE changed = 0 ORDER BY start_ms LIMIT ?1))) WHERE name = 'aggregate.horizon_ms'",
       true},
      {counter::shed_uplink_aggregates, "DELETE FROM outbox WHERE stream = 2 AND seq IN (SELECT seq FROM outbox WHERE stream = 2 ORDER BY seq LIMIT ?1)"},
      // Alarms last: first those already queued for the centre, then the rest,
      // and the unsent alarms in the outbox at the very end.
      {counter::shed_alarms, queued_alarms.c_str()},
      {counter::shed_alarms, "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE severity >= 2 ORDER BY id LIMIT ?1)"},
      {counter::shed_uplink_alarms, "DELETE FROM outbox WHERE stream = 0 AND seq IN (SELECT seq FROM outbox WHERE stream = 0 ORDER BY seq LIMIT ?1)"},
  };
}

}  // namespace

std::uint64_t store::shed(const shed_step& step, std::uint64_t rows) {
  sqlite::transaction txn(db_);
  if (txn.begin_result() != SQLITE_OK) return 0;
  std::uint64_t deleted = 0;
  if (step.moves_aggregate_horizon) {
    if (db_.try_exec("INSERT OR IGNORE INTO cursors(name, value) VALUES('aggregate.horizon_ms', 0)") != SQLITE_OK) return 0;
    auto horizon = db_.prepare(step.sql);
    horizon.bind(1, static_cast<std::int64_t>(rows));
    if (horizon.step() != SQLITE_DONE) return 0;
    const char* const deletes[] = {
        "DELETE FROM aggregates WHERE start_ms + period_s * 1000 <= (SELECT value FROM cursors WHERE name = 'aggregate.horizon_ms') "
        "AND (device, period_s, start_ms) IN (SELECT device, period_s, start_ms FROM aggregate_windows WHERE changed = 0)",
        "DELETE FROM aggregate_windows WHERE changed = 0 AND start_ms + period_s * 1000 <= "
        "(SELECT value FROM cursors WHERE name = 'aggregate.horizon_ms')"};
    for (const auto* sql : deletes) {
      if (db_.try_exec(sql) != SQLITE_OK) return 0;
      deleted += static_cast<std::uint64_t>(db_.changes());
    }
  } else {
    auto stmt = db_.prepare(step.sql);
    stmt.bind(1, static_cast<std::int64_t>(rows));
    if (stmt.step() != SQLITE_DONE) return 0;
    deleted = static_cast<std::uint64_t>(db_.changes());
  }
  if (deleted == 0) return 0;
  add_counter_.bind(1, step.counter).bind(2, static_cast<std::int64_t>(deleted));
  const int rc = add_counter_.step();
  add_counter_.reset();
  if (rc != SQLITE_DONE || txn.commit() != SQLITE_OK) return 0;
  return deleted;
}

bool store::release_reserve() {
  std::error_code ec;
  return std::filesystem::remove(reserve_path(), ec);
}

void store::ensure_reserve(std::uint64_t disk_free_bytes) {
  const auto want = settings_.emergency_reserve;
  if (want == 0) return;
  std::error_code ec;
  const auto have = std::filesystem::exists(reserve_path(), ec) ? std::filesystem::file_size(reserve_path(), ec) : 0;
  // Take the reserve back only with room to spare, or it would cause the next ENOSPC itself.
  if (have >= want || disk_free_bytes < 2 * want + settings_.min_free_disk) return;
  // Written, not fallocated: the blocks must really be taken from the filesystem (tmpfs, ext4, f2fs alike).
  std::FILE* file = std::fopen(reserve_path().c_str(), "wb");
  if (!file) return;
  const std::string block(64 * 1024, '\0');
  std::uint64_t written = 0;
  while (written < want && std::fwrite(block.data(), 1, block.size(), file) == block.size()) written += block.size();
  const bool ok = std::fflush(file) == 0 && written >= want;
  std::fclose(file);
  if (!ok) release_reserve();
}

shed_report store::enforce_limits(bool emergency) {
  shed_report report;
  if (emergency) {
    // Space for the checkpoint and the deletes that follow.
    report.released_reserve = release_reserve();
  }
  auto usage_now = usage();
  if (emergency || usage_now.disk_free_bytes < settings_.min_free_disk) {
    // A full disk may be full of WAL (up to 4 MiB while a backlog drains,
    // wal_checkpointer.hpp): checkpointing and truncating it is the cheapest
    // space to win back, and deletes need WAL room themselves. Without this,
    // a grown WAL counted as data that shedding could never free, and a
    // burst on a small disk shed every message and alarm.
    db_.try_exec("PRAGMA wal_checkpoint(TRUNCATE)");
    usage_now = usage();
  }
  auto over = [&](const store_usage& u) {
    return u.used_bytes > settings_.max_size || u.disk_free_bytes < settings_.min_free_disk;
  };
  if (!emergency && !over(usage_now)) {
    ensure_reserve(usage_now.disk_free_bytes);
    return report;
  }

  // Hysteresis: shed to 90 % of the quota so the next commits do not shed again at once.
  const std::uint64_t target = settings_.max_size / 10 * 9;
  const bool disk_low = usage_now.disk_free_bytes < settings_.min_free_disk;
  auto satisfied = [&](const store_usage& u) {
    const bool quota_ok = u.used_bytes <= target;
    // For the disk floor, freed pages only count once handed back, so use used bytes
    // against the space the file can give back.
    const bool disk_ok = !disk_low || u.disk_free_bytes + (u.file_bytes - u.used_bytes) >= settings_.min_free_disk;
    return quota_ok && disk_ok;
  };
  const std::uint64_t chunk = emergency ? 500 : 2000;
  for (const auto& step : shed_steps()) {
    while (!satisfied(usage_now)) {
      const auto deleted = shed(step, chunk);
      if (deleted == 0) break;
      if (step.counter == counter::shed_quarantine) report.quarantine += deleted;
      else if (step.counter == counter::shed_messages) report.messages += deleted;
      else if (step.counter == counter::shed_events) report.events += deleted;
      else if (step.counter == counter::shed_alarms) report.alarms += deleted;
      else report.other += deleted;
      usage_now = usage();
    }
    if (satisfied(usage_now)) break;
  }
  if (disk_low || emergency) {
    db_.try_exec("PRAGMA incremental_vacuum");
    db_.try_exec("PRAGMA wal_checkpoint(TRUNCATE)");
    usage_now = usage();
  }
  report.under_limits = !over(usage_now);
  if (!emergency) ensure_reserve(usage_now.disk_free_bytes);
  return report;
}

}  // namespace communegw
