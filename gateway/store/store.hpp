#pragma once
// The gateway's durable store: one SQLite file in WAL mode holding accepted
// messages (with their readings), events, the quarantine of rejected input and
// persistent counters. Schema and the meaning of every column: docs/storage.md.
//
// Threading: a store is used by one thread at a time (the store writer in
// `run`, the main thread in the CLI). Nothing here touches the network.
//
// Failure: the constructor throws (sqlite::error, store_error) when the store
// cannot be opened even after moving a corrupt file aside. write() never
// throws on I/O: a full disk or an I/O error comes back as a write_status,
// the transaction is rolled back and the caller keeps the batch to retry.

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "gateway/config/config.hpp"
#include "gateway/model/received_message.hpp"
#include "gateway/store/message_rows.hpp"
#include "gateway/store/recent_identities.hpp"
#include "gateway/store/sqlite.hpp"
#include "gateway/store/wal_checkpointer.hpp"

namespace communegw {

class store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct store_open_report {
  int schema_version = 0;
  bool created = false;
  bool recovered = false;      // a damaged file was moved aside and a fresh store started
  std::string moved_aside_to;  // where the damaged file went
  std::string recovery_reason;
};

enum class write_status { ok, full, failed };

struct shed_step;  // store.cpp: one step of the shedding order

struct write_outcome {
  write_status status = write_status::ok;
  std::size_t stored = 0;      // messages committed
  std::size_t duplicates = 0;  // redeliveries recognised and skipped
  std::size_t rejected = 0;    // messages quarantined
  std::size_t field_rejections = 0;
  std::string error;           // for full/failed: the SQLite message
};

struct store_usage {
  std::uint64_t used_bytes = 0;  // pages holding data (file size minus free pages)
  std::uint64_t file_bytes = 0;
  std::uint64_t wal_bytes = 0;
  std::uint64_t disk_free_bytes = 0;
};

struct shed_report {
  bool released_reserve = false;
  std::uint64_t messages = 0;
  std::uint64_t events = 0;
  std::uint64_t alarms = 0;
  std::uint64_t quarantine = 0;
  std::uint64_t other = 0;  // aggregates and unsent uplink records (see the shed_* counters)
  bool under_limits = true;  // false if even shedding could not get under the limits
};

// The hash of the interned-name maps (device names, topics), looked up for
// every stored message: eight bytes a step, where std::hash (murmur) cost
// ~100 instructions on a 45-byte topic. Not seeded, like std::hash.
struct interned_name_hash {
  std::size_t operator()(std::string_view name) const noexcept;
};

class store {
 public:
  // boot_id identifies this machine boot; now_ms stamps the boot row and any recovery event.
  store(const store_settings& settings, const std::string& boot_id, std::int64_t now_ms);
  store(const store&) = delete;  // SQLite holds a pointer to it (the WAL hook)
  store& operator=(const store&) = delete;

  const store_open_report& open_report() const { return open_report_; }
  // How this store's message identities are hashed: ingest must use the same
  // (received_message.hpp).
  identity_scheme message_identity_scheme() const { return identity_scheme_; }

  // Commits a batch in one transaction.
  write_outcome write(std::span<const received_message> batch);

  // Checks the quota and the free-disk floor and deletes by priority when
  // either is exceeded: quarantine, then messages (raw readings), then
  // non-alarm events, alarms last. `emergency` (after a failed write) first
  // releases the emergency reserve file, truncates the WAL and returns freed
  // pages to the filesystem. Outside emergencies it re-creates the reserve
  // once there is room for it.
  shed_report enforce_limits(bool emergency);

  store_usage usage();

  // Asks for a WAL checkpoint (PASSIVE: never waits for readers), which
  // fsyncs the WAL and the database, on the checkpointer's thread
  // (wal_checkpointer.hpp).
  void checkpoint();
  // The checkpoint SQLite would run inside COMMIT once the WAL has grown by
  // 1 MiB, asked for after the writer has released the messages that COMMIT
  // covered (store_writer.cpp). If the WAL has reached 4 MiB (checkpoints
  // could not catch up with the writer, so SQLite could not start it over),
  // it runs here, on the writer's connection. True if one was asked for or ran.
  bool checkpoint_if_due();
  int wal_pages() const { return wal_pages_; }  // after the last commit on the writer's connection
  std::uint64_t checkpoints_completed() const { return checkpointer_->completed(); }  // on the checkpointer's thread
  // Writes pending counter increments now (the writer calls it at shutdown),
  // or only if some are older than a second (the writer calls it when idle).
  void flush_counters_now();
  void flush_counters_if_due();
  // At shutdown: the counters and each topic's newest identity (see topic_last_identity_).
  void flush_at_shutdown();
  sqlite::database& database() { return db_; }

 private:
  void apply_pragmas();
  // A PASSIVE checkpoint on the writer's own connection, now (see checkpoint_if_due).
  void checkpoint_here();
  void record_recovery(std::int64_t now_ms);
  void migrate();
  void prepare_statements();
  void load_recent_identities();
  std::int64_t device_id(const decoded_message& message, std::int64_t now_ms);
  int update_availability(std::int64_t device, availability state, std::optional<std::int64_t> device_ms,
                          const received_message& item);
  int write_part(const decoded_message& part, const received_message& item, std::int64_t topic, std::int64_t flags);
  int write_event(const event& ev, std::int64_t message_row, std::int64_t device, const received_message& item,
                  std::int64_t flags);
  int update_incident(const event& ev, std::int64_t device, const received_message& item);
  std::int64_t topic_id(const std::string& topic);
  int quarantine(const received_message& message, const rejection& why);
  int flush_counters();
  int save_topic_identities();
  int save_last_seen();
  void heard_from(std::int64_t device, const received_message& item);
  // Drops a copy of a stored message (see received_message::identity_unique).
  bool is_repeat(const received_message& item, std::int64_t topic) const;
  void remember(const received_message& item, std::int64_t topic);
  std::uint64_t shed(const shed_step& step, std::uint64_t rows);
  std::filesystem::path reserve_path() const { return settings_.path.string() + ".reserve"; }
  bool release_reserve();
  void ensure_reserve(std::uint64_t disk_free_bytes);

  store_settings settings_;
  std::string boot_id_;
  std::int64_t boot_row_ = 0;
  store_open_report open_report_;
  identity_scheme identity_scheme_ = newest_identity_scheme;
  sqlite::database db_;
  std::uint64_t page_size_ = 4096;
  int wal_pages_ = 0;             // the WAL's size after the last commit (SQLite's WAL hook)
  int wal_pages_requested_ = 0;   // its size when the last checkpoint was asked for
  bool in_ingest_write_ = false;  // in write(): the WAL hook leaves the checkpoint to checkpoint_if_due
  int wal_checkpoint_pages_ = 0;  // checkpoint_if_due() asks for one each time the WAL grew by this much
  // Declared after db_: stopped (and its connection closed) before db_ closes.
  std::unique_ptr<wal_checkpointer> checkpointer_;

  sqlite::statement insert_event_, insert_quarantine_, trim_quarantine_;
  sqlite::statement find_device_, insert_device_, find_topic_, insert_topic_, add_counter_;
  sqlite::statement record_availability_change_, update_availability_, save_topic_identity_, save_last_seen_, save_last_seen_through_;
  sqlite::statement find_incident_, merge_attributes_, update_incident_;
  std::unordered_map<std::string, std::int64_t, interned_name_hash> device_ids_;
  std::unordered_map<std::string, std::int64_t, interned_name_hash> topic_ids_;
  // Counter increments not yet in the `counters` table. Writing them costs a
  // page and three upserts per commit, which at commune rates (one message per
  // commit) is a third of the commit. So they are written at most once a
  // second, and at once with any rejection (the quarantine row and its count
  // then land together) and at shutdown. A crash can lose up to a second of
  // counts, never data.
  struct counter_deltas {
    std::int64_t stored_messages = 0;
    std::int64_t stored_readings = 0;
    std::int64_t stored_events = 0;
    std::int64_t duplicates = 0;
    std::int64_t retained_repeats = 0;
    std::int64_t availability_reports = 0;
    std::int64_t updated_incidents = 0;
    std::array<std::int64_t, reject_reason_count> rejected{};
    // What became of each MQTT message, one outcome each (counter::messages_*;
    // duplicates are duplicates + retained_repeats).
    std::int64_t messages_stored = 0;
    std::int64_t messages_availability_only = 0;
    std::int64_t messages_rejected = 0;
    std::array<std::int64_t, ignore_reason_count> messages_ignored{};
    void add(const counter_deltas& other);
    bool has_rejections() const;
  };
  counter_deltas deltas_;          // this batch
  counter_deltas unflushed_;       // committed batches whose counts are not yet written
  std::chrono::steady_clock::time_point counters_flushed_at_{};
  recent_identities recent_;
  std::vector<std::uint64_t> batch_identities_;  // added by the transaction in progress
  // The identity of the newest stored message per topic row. A broker sends
  // its retained copy of a topic again on every subscribe (the gateway
  // subscribes on every connect); when that copy is what the store already
  // holds as the topic's newest message it is a repeat, however long ago it
  // was stored. Kept in memory; written to topics.last_identity every
  // store.dedupe_window / 2 stored messages and at shutdown, so that at start
  // the saved values plus the tail of `messages` (the dedupe window) give it
  // whole, even after a crash.
  std::unordered_map<std::int64_t, std::uint64_t> topic_last_identity_;
  std::vector<std::pair<std::int64_t, std::uint64_t>> batch_topic_undo_;  // (topic, previous identity; 0: none)
  std::vector<std::int64_t> unsaved_topics_;
  std::uint64_t stored_since_topic_save_ = 0;
  // When each device was last heard from (a live message or availability
  // report; the broker's retained copies do not count), since the last save.
  // Written to devices.last_seen_ms every last_seen_save_interval and at
  // shutdown, with the newest message id then (cursor
  // devices.last_seen_through): a reader takes the newer of the saved value
  // and the messages after it, so per-message writes to the devices table,
  // scattered over its pages, are avoided.
  std::unordered_map<std::int64_t, std::int64_t> unsaved_last_seen_;
  std::vector<std::pair<std::int64_t, std::int64_t>> batch_last_seen_undo_;  // (device, previous; 0: none)
  std::chrono::steady_clock::time_point last_seen_saved_at_ = std::chrono::steady_clock::now();
  message_rows new_messages_{db_};  // this batch's rows of `messages`, not yet inserted
};

// How often the store writes when each device was last heard from (see store::unsaved_last_seen_).
inline constexpr std::chrono::minutes last_seen_save_interval{10};
// The cursor (table `cursors`) holding the id of the newest message when last_seen_ms was saved.
inline constexpr std::string_view last_seen_through_cursor = "devices.last_seen_through";

// Names of the persistent counters (table `counters`).
namespace counter {
inline constexpr std::string_view stored_messages = "stored_messages";
inline constexpr std::string_view stored_readings = "stored_readings";
inline constexpr std::string_view stored_events = "stored_events";
inline constexpr std::string_view duplicates = "duplicate_messages";
// Retained copies of a topic's newest stored message, sent again by the broker on a subscribe.
inline constexpr std::string_view retained_repeats = "retained_repeats";
inline constexpr std::string_view availability_reports = "availability_reports";
inline constexpr std::string_view updated_incidents = "updated_incidents";  // incident rows updated in place
inline constexpr std::string_view shed_messages = "shed_messages";
inline constexpr std::string_view shed_events = "shed_events";
inline constexpr std::string_view shed_alarms = "shed_alarms";
inline constexpr std::string_view shed_quarantine = "shed_quarantine";
inline constexpr std::string_view shed_aggregates = "shed_aggregates";
inline constexpr std::string_view shed_uplink_health = "shed_uplink.health";
inline constexpr std::string_view shed_uplink_raw = "shed_uplink.raw";
inline constexpr std::string_view shed_uplink_events = "shed_uplink.events";
inline constexpr std::string_view shed_uplink_aggregates = "shed_uplink.aggregates";
inline constexpr std::string_view shed_uplink_alarms = "shed_uplink.alarms";
// Rejections are counted as "rejected.<reason>" (a message refused whole, or
// one value of it).
// One outcome per MQTT message the store is given: stored, availability only,
// a duplicate (duplicate_messages, retained_repeats), rejected (refused
// whole, or every value in it refused) or ignored (accepted, nothing to keep;
// see ignore_reason). Their sum is what the gateway received.
inline constexpr std::string_view messages_stored = "messages.stored";
inline constexpr std::string_view messages_availability_only = "messages.availability_only";
inline constexpr std::string_view messages_rejected = "messages.rejected";
inline constexpr std::string_view messages_ignored_prefix = "messages.ignored.";
}  // namespace counter

}  // namespace communegw
