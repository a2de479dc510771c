#include <doctest/doctest.h>

#include <deque>
#include <fstream>
#include <random>
#include <thread>
#include <unordered_set>

#include <fmt/format.h>

#include "drivers/frigate/frigate_driver.hpp"
#include "drivers/native/native_driver.hpp"
#include "gateway/store/schema.hpp"
#include "gateway/store/recent_identities.hpp"
#include "gateway/store/store.hpp"
#include "gateway/store/store_writer.hpp"
#include "gateway/ingest/ingest.hpp"
#include "gateway/ingest/ingest_queue.hpp"

using namespace communegw;

namespace {

struct store_fixture {
  std::filesystem::path dir;
  store_settings settings;
  std::unique_ptr<driver> native = make_native_driver(driver_settings{"native", true, {}});
  std::int64_t now_ms = 1'795'403'100'000;

  store_fixture() {
    std::string pattern = (std::filesystem::temp_directory_path() / "communegw-store-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()));
    dir = pattern;
    settings.path = dir / "gw.db";
    settings.max_size = 64ull << 20;
    settings.min_free_disk = 0;
    settings.quarantine_rows = 100;
    settings.max_batch = 1000;
    settings.max_uncommitted = 100;
    settings.check = startup_check::full;
  }
  ~store_fixture() { std::filesystem::remove_all(dir); }

  received_message message(const std::string& topic, const std::string& payload,
                           identity_scheme identities = newest_identity_scheme) {
    received_message m;
    m.topic = topic;
    m.received = {now_ms += 1000, 5000, true};
    m.payload_size = payload.size();
    m.result = native->decode(topic, payload);
    if (std::holds_alternative<rejection>(m.result) || !std::get<decoded_message>(m.result).field_rejections.empty()) {
      m.payload_excerpt = payload.substr(0, quarantine_excerpt_bytes);
    }
    if (const auto* decoded = std::get_if<decoded_message>(&m.result)) {
      const auto key = identify(*decoded, topic, payload, identities);  // as ingest does
      m.identity = key.identity;
      m.identity_unique = key.unique;
    }
    return m;
  }
};

std::int64_t count(store& s, const std::string& sql) { return s.database().query_int(sql); }

}  // namespace

TEST_CASE_FIXTURE(store_fixture, "a new store has 1 KiB pages - a store created with other pages keeps them") {
  {
    store fresh(settings, "boot-a", now_ms);
    CHECK(count(fresh, "PRAGMA page_size") == 1024);
    CHECK(count(fresh, "PRAGMA auto_vacuum") == 2);  // incremental: chosen at creation too
  }
  // A store made by an earlier version, with SQLite's default 4 KiB pages.
  const auto older = dir / "older.db";
  {
    sqlite::database db(older, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    db.exec("PRAGMA page_size = 4096");
    db.exec("CREATE TABLE t(x)");
  }
  auto older_settings = settings;
  older_settings.path = older;
  store reopened(older_settings, "boot-a", now_ms);
  CHECK(count(reopened, "PRAGMA page_size") == 4096);
  std::vector<received_message> batch{message("commune/c/env/e-1/telemetry", R"({"seq":1,"pm2_5":12.5})")};
  CHECK(reopened.write(batch).status == write_status::ok);
  CHECK(count(reopened, "SELECT count(*) FROM messages") == 1);
}

TEST_CASE_FIXTURE(store_fixture, "a commit never checkpoints - the writer asks for one per MiB of WAL on another thread, at 4 MiB runs one itself") {
  using namespace std::chrono_literals;
  store s(settings, "boot-a", now_ms);
  int seq = 0;
  auto write_batch = [&] {
    std::vector<received_message> batch;
    for (int i = 0; i < 100; ++i) {
      ++seq;
      batch.push_back(message("commune/c/env/e-1/telemetry",
                              fmt::format(R"({{"seq":{},"pm2_5":{},"pm10":{},"humidity":{}}})", seq, seq % 300, seq % 500, seq % 100)));
    }
    REQUIRE(s.write(batch).status == write_status::ok);
  };
  auto grow_wal_to = [&](int pages) {
    for (int batches = 0; batches < 2000 && s.wal_pages() < pages; ++batches) write_batch();
    REQUIRE(s.wal_pages() >= pages);
  };
  // Nothing is due below 1 MiB (1024 pages of 1 KiB), and the commits themselves never checkpoint.
  for (int batches = 0; batches < 400 && s.wal_pages() < 1000; ++batches) {
    CHECK_FALSE(s.checkpoint_if_due());
    write_batch();
  }
  grow_wal_to(1536);
  // Asked for once; it runs on the checkpointer's thread.
  CHECK(s.checkpoint_if_due());
  CHECK_FALSE(s.checkpoint_if_due());
  for (int i = 0; i < 200 && s.checkpoints_completed() == 0; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(s.checkpoints_completed() == 1);
  // Every frame was copied: the next commit starts the WAL over.
  write_batch();
  CHECK(s.wal_pages() < 200);

  // At 4 MiB the writer checkpoints on its own connection, at once: no wait for another thread.
  grow_wal_to(4 * 1024);
  CHECK(s.checkpoint_if_due());
  write_batch();
  CHECK(s.wal_pages() < 200);
  CHECK(s.checkpoints_completed() == 1);
  CHECK(count(s, "SELECT count(*) FROM messages") == seq);
}

TEST_CASE_FIXTURE(store_fixture, "accepted messages are stored with their readings, stamps and units") {
  store s(settings, "boot-a", now_ms);
  CHECK(s.open_report().created);
  CHECK(s.open_report().schema_version == static_cast<int>(schema_migrations().size()));
  std::vector<received_message> batch{message("commune/c/env/e-1/telemetry", R"({"seq":1,"ts":1795403000,"pm2_5":12.5,"humidity":80})")};
  const auto outcome = s.write(batch);
  CHECK(outcome.status == write_status::ok);
  CHECK(outcome.stored == 1);
  CHECK(count(s, "SELECT count(*) FROM readings") == 2);
  auto row = s.database().prepare(
      "SELECT device, device_kind, value, unit, device_ms, recv_ms, boot_id, mono_ms, time_trusted, topic FROM readings WHERE metric = 'pm2_5'");
  REQUIRE(row.step() == SQLITE_ROW);
  CHECK(row.column_text(0) == "e-1");
  CHECK(row.column_text(1) == "environment");
  CHECK(row.column_double(2) == 12.5);
  CHECK(row.column_text(3) == "µg/m³");
  CHECK(row.column_int(4) == 1795403000000);
  CHECK(row.column_int(5) == batch[0].received.wall_ms);
  CHECK(row.column_text(6) == "boot-a");
  CHECK(row.column_int(7) == 5000);
  CHECK(row.column_int(8) == 1);
  CHECK(row.column_text(9) == "commune/c/env/e-1/telemetry");
}

TEST_CASE_FIXTURE(store_fixture, "a batch is stored whole and in order - each event points at its own message row") {
  // 45 messages: the message rows go in up to 16 per INSERT (message_rows),
  // and a message with an event is inserted at once, for its row id.
  store s(settings, "boot-a", now_ms);
  std::vector<received_message> batch;
  for (int i = 0; i < 45; ++i) {
    if (i % 11 == 5) {
      batch.push_back(
          message("commune/c/camera/cam-1/event", fmt::format(R"({{"seq":{},"event":"tamper","zone":"z{}"}})", i, i)));
    } else {
      batch.push_back(message("commune/c/env/e-1/telemetry", fmt::format(R"({{"seq":{},"pm2_5":{}.5}})", i, i)));
    }
  }
  const auto outcome = s.write(batch);
  REQUIRE(outcome.status == write_status::ok);
  CHECK(outcome.stored == 45);
  CHECK(count(s, "SELECT count(*) FROM messages") == 45);
  auto rows = s.database().prepare("SELECT seq, recv_ms, mono_ms, identity, readings FROM messages ORDER BY id");
  for (int i = 0; i < 45; ++i) {
    CAPTURE(i);
    REQUIRE(rows.step() == SQLITE_ROW);
    CHECK(rows.column_int(0) == i);
    CHECK(rows.column_int(1) == batch[static_cast<std::size_t>(i)].received.wall_ms);
    CHECK(rows.column_int(2) == 5000);
    CHECK(static_cast<std::uint64_t>(rows.column_int(3)) == batch[static_cast<std::size_t>(i)].identity);
    CHECK(rows.column_text(4) == (i % 11 == 5 ? std::string("{}") : fmt::format(R"({{"pm2_5":{}.5}})", i)));
  }
  CHECK(rows.step() == SQLITE_DONE);
  CHECK(count(s, "SELECT count(*) FROM events") == 4);
  CHECK(count(s,
              "SELECT count(*) FROM events e JOIN messages m ON m.id = e.message "
              "WHERE m.seq % 11 = 5 AND json_extract(e.attributes, '$.zone') = 'z' || m.seq") == 4);
}

TEST_CASE_FIXTURE(store_fixture, "each part of a message is judged by its own device time - a 1970 sample among good ones is flagged alone") {
  store s(settings, "boot-a", now_ms);
  // As the Sparkplug driver reports samples of several times: one part per time, same device.
  decoded_message current;
  current.device_id = "sparkplug/g/n";
  current.device_time_ms = now_ms;
  current.readings.push_back({find_metric("temperature"), 28});
  decoded_message unset_clock = current;
  unset_clock.device_time_ms = 5000;
  unset_clock.readings[0].value = 27;
  current.other_devices.push_back(std::move(unset_clock));
  received_message m;
  m.topic = "spBv1.0/g/NDATA/n";
  m.received = {now_ms + 1000, 5000, true};
  m.result = std::move(current);
  m.identity = 42;
  std::vector<received_message> batch{std::move(m)};
  CHECK(s.write(batch).stored == 1);
  CHECK(count(s, "SELECT count(*) FROM messages") == 2);
  CHECK(count(s, "SELECT flags & 2 FROM messages WHERE device_ms = 5000") == 2);
  CHECK(count(s, "SELECT flags & 2 FROM messages WHERE device_ms = " + std::to_string(now_ms)) == 0);
}

TEST_CASE_FIXTURE(store_fixture, "redelivery never duplicates: by sequence number, else by device time per topic") {
  store s(settings, "boot-a", now_ms);
  const std::string with_seq = R"({"seq":7,"pm2_5":1})";
  const std::string with_ts = R"({"ts":1795403000,"pm2_5":1})";
  const std::string bare = R"({"pm2_5":1})";
  std::vector<received_message> first{message("commune/c/env/e-1/telemetry", with_seq),
                                      message("commune/c/env/e-1/telemetry", with_ts),
                                      message("commune/c/env/e-1/telemetry", bare)};
  CHECK(s.write(first).stored == 3);
  std::vector<received_message> again{message("commune/c/env/e-1/telemetry", with_seq),
                                      message("commune/c/env/e-1/telemetry", with_ts),
                                      message("commune/c/env/e-2/telemetry", with_seq)};  // another device: not a duplicate
  const auto outcome = s.write(again);
  CHECK(outcome.stored == 1);
  CHECK(outcome.duplicates == 2);
  CHECK(count(s, "SELECT count(*) FROM messages") == 4);
  s.flush_counters_now();  // counts are written at most once a second otherwise
  CHECK(count(s, "SELECT value FROM counters WHERE name = 'duplicate_messages'") == 2);
  // The same sequence number after a restart (new process, same store) is still a duplicate.
  store reopened(settings, "boot-a", now_ms);
  std::vector<received_message> after_restart{message("commune/c/env/e-1/telemetry", with_seq)};
  CHECK(reopened.write(after_restart).duplicates == 1);
}

TEST_CASE_FIXTURE(store_fixture, "a message without sequence number or time: equal copies are kept, unless the broker flags one as redelivered") {
  store s(settings, "boot-a", now_ms);
  const std::string topic = "commune/c/env/e-1/telemetry";
  const std::string bare = R"({"pm2_5":3})";
  std::vector<received_message> live{message(topic, bare), message(topic, bare)};  // two real readings, same value
  CHECK(s.write(live).stored == 2);
  auto redelivered = message(topic, bare);
  redelivered.redelivered = true;  // DUP: the broker sent it before and saw no PUBACK
  std::vector<received_message> again{redelivered};
  const auto outcome = s.write(again);
  CHECK(outcome.stored == 0);
  CHECK(outcome.duplicates == 1);
  // A redelivered message the store has not seen is stored, and marked.
  auto unseen = message(topic, R"({"pm2_5":4})");
  unseen.redelivered = true;
  std::vector<received_message> first_copy{unseen};
  CHECK(s.write(first_copy).stored == 1);
  CHECK(count(s, "SELECT count(*) FROM messages WHERE flags & 4") == 1);
  CHECK(count(s, "SELECT count(*) FROM messages") == 3);
}

TEST_CASE_FIXTURE(store_fixture, "a failed batch does not forget the identity of an equal message stored before it") {
  store s(settings, "boot-a", now_ms);
  const std::string topic = "commune/c/env/e-1/telemetry";
  const std::string bare = R"({"pm2_5":3})";
  std::vector<received_message> first{message(topic, bare)};
  REQUIRE(s.write(first).stored == 1);
  // The next batch holds an equal reading and fails (a trigger stands in for a full disk).
  s.database().exec("CREATE TEMP TRIGGER fail_seq_99 BEFORE INSERT ON messages WHEN NEW.seq = 99 "
                    "BEGIN SELECT RAISE(ABORT, 'no room'); END");
  std::vector<received_message> failing{message(topic, bare), message(topic, R"({"seq":99,"pm2_5":1})")};
  CHECK(s.write(failing).status == write_status::failed);
  s.database().exec("DROP TRIGGER fail_seq_99");
  // A redelivery of the first message is still recognised.
  auto again = message(topic, bare);
  again.redelivered = true;
  std::vector<received_message> redelivery{again};
  CHECK(s.write(redelivery).duplicates == 1);
  CHECK(count(s, "SELECT count(*) FROM messages") == 1);
}

TEST_CASE_FIXTURE(store_fixture, "the broker's retained copy of a topic's newest message is a repeat however long ago it was stored") {
  settings.dedupe_window = 4;  // the in-memory window rolls after 4 messages
  const std::string lamp = "commune/c/env/e-lamp/telemetry";
  const std::string state = R"({"pm2_5":7})";
  auto retained = [&](const std::string& payload) {
    auto m = message(lamp, payload);
    m.retained = true;
    return std::vector<received_message>{m};
  };
  auto others = [&](store& s, int n) {
    for (int i = 0; i < n; ++i) {
      std::vector<received_message> batch{message("commune/c/env/e-" + std::to_string(i) + "/telemetry",
                                                  R"({"seq":)" + std::to_string(now_ms) + R"(,"pm2_5":1})")};
      REQUIRE(s.write(batch).stored == 1);
    }
  };
  {
    store s(settings, "boot-a", now_ms);
    std::vector<received_message> live{message(lamp, state)};  // published with retain, forwarded live
    CHECK(s.write(live).stored == 1);
    others(s, 10);  // far past the window
    auto outcome = s.write(retained(state));  // a reconnect: the broker sends its retained copy
    CHECK(outcome.stored == 0);
    CHECK(outcome.duplicates == 1);
    s.flush_counters_now();
    CHECK(count(s, "SELECT value FROM counters WHERE name = 'retained_repeats'") == 1);
  }
  {
    // A restart (the topic's identity was saved while the others were stored).
    store s(settings, "boot-a", now_ms);
    CHECK(s.write(retained(state)).duplicates == 1);
    // A retained copy that differs (the device changed it while the gateway was
    // away) is new: stored, and marked as possibly older than its receive time.
    CHECK(s.write(retained(R"({"pm2_5":9})")).stored == 1);
    CHECK(count(s, "SELECT count(*) FROM messages WHERE flags & 16") == 1);
    // A live message equal to the retained one is a reading of its own.
    std::vector<received_message> live{message(lamp, R"({"pm2_5":9})")};
    CHECK(s.write(live).stored == 1);
    s.flush_at_shutdown();
  }
  {
    // After a clean stop: the newest is the live copy, equal to the retained one.
    store s(settings, "boot-a", now_ms);
    CHECK(s.write(retained(R"({"pm2_5":9})")).duplicates == 1);
    CHECK(s.write(retained(state)).stored == 1);  // the older value is not the newest any more
  }
  settings.dedupe_window = 1000;  // nothing saved before a crash: the tail of `messages` has it
  {
    store s(settings, "boot-a", now_ms);
    std::vector<received_message> live{message(lamp, R"({"pm2_5":11})")};
    CHECK(s.write(live).stored == 1);
  }  // no flush_at_shutdown: a crash
  store s(settings, "boot-a", now_ms);
  CHECK(s.write(retained(R"({"pm2_5":11})")).duplicates == 1);
  CHECK(count(s, "SELECT count(*) FROM messages WHERE topic = (SELECT id FROM topics WHERE topic = '" + lamp + "')") == 5);
}

TEST_CASE_FIXTURE(store_fixture, "out-of-order messages keep their own time - absurd device clocks are flagged, not trusted") {
  store s(settings, "boot-a", now_ms);
  const auto device_s = now_ms / 1000 - 600;
  const std::string topic = "commune/c/env/e-1/telemetry";
  auto payload = [](std::int64_t seq, std::int64_t ts) { return fmt::format(R"({{"seq":{},"ts":{},"pm2_5":1}})", seq, ts); };
  std::vector<received_message> batch{message(topic, payload(5, device_s + 60)),  // newer first
                                      message(topic, payload(4, device_s)),
                                      message(topic, payload(6, 86'400)),                 // 1970: a clock never set
                                      message(topic, payload(7, now_ms / 1000 + 3 * 86'400))};  // days ahead
  CHECK(s.write(batch).stored == 4);
  CHECK(count(s, "SELECT device_ms FROM messages WHERE seq = 4") == device_s * 1000);
  CHECK(count(s, "SELECT device_ms FROM messages WHERE seq = 5") == (device_s + 60) * 1000);
  CHECK(count(s, "SELECT count(*) FROM messages WHERE flags & 2 AND seq IN (6, 7)") == 2);
  CHECK(count(s, "SELECT count(*) FROM messages WHERE flags & 2 = 0 AND seq IN (4, 5)") == 2);
}

TEST_CASE_FIXTURE(store_fixture, "when each device was last heard from is saved at shutdown - the broker's retained copies do not count") {
  std::int64_t e1_seen_ms = 0;
  {
    store s(settings, "boot-a", now_ms);
    std::vector<received_message> batch{message("commune/c/env/e-1/telemetry", R"({"seq":1,"pm2_5":1})"),
                                        message("commune/c/env/e-1/telemetry", R"({"seq":2,"pm2_5":1})"),
                                        message("commune/c/env/e-2/telemetry", R"({"seq":1,"pm2_5":1})")};
    auto stale = message("commune/c/env/e-2/telemetry", R"({"pm2_5":2})");
    stale.retained = true;  // after e-2's live message: must not move its last_seen
    batch.push_back(stale);
    REQUIRE(s.write(batch).stored == 4);
    // Nothing written per message: the saved value comes every 10 minutes or at shutdown.
    CHECK(count(s, "SELECT count(*) FROM devices WHERE last_seen_ms IS NOT NULL") == 0);
    s.flush_at_shutdown();
    e1_seen_ms = batch[1].received.wall_ms;
    CHECK(count(s, "SELECT last_seen_ms FROM devices WHERE name = 'e-1'") == e1_seen_ms);
    CHECK(count(s, "SELECT last_seen_ms FROM devices WHERE name = 'e-2'") == batch[2].received.wall_ms);
    CHECK(count(s, "SELECT value FROM cursors WHERE name = 'devices.last_seen_through'") == 4);
  }
  // The saved value never goes back (a message with an older receive time arrives after the save).
  store s(settings, "boot-a", now_ms);
  auto older = message("commune/c/env/e-1/telemetry", R"({"seq":3,"pm2_5":1})");
  older.received.wall_ms -= 3'600'000;
  std::vector<received_message> batch{older};
  REQUIRE(s.write(batch).stored == 1);
  s.flush_at_shutdown();
  CHECK(count(s, "SELECT last_seen_ms FROM devices WHERE name = 'e-1'") == e1_seen_ms);
}

TEST_CASE_FIXTURE(store_fixture, "a device that reboots and reuses sequence numbers is not mistaken for a redelivery") {
  store s(settings, "boot-a", now_ms);
  std::vector<received_message> before{message("commune/c/env/e-1/telemetry", R"({"seq":1,"ts":1795403000,"pm2_5":10})")};
  std::vector<received_message> after_reboot{message("commune/c/env/e-1/telemetry", R"({"seq":1,"ts":1795409000,"pm2_5":14})")};
  CHECK(s.write(before).stored == 1);
  CHECK(s.write(after_reboot).stored == 1);
  CHECK(count(s, "SELECT count(*) FROM messages") == 2);
}

TEST_CASE_FIXTURE(store_fixture, "a copy inside the same batch is a duplicate - a failed batch forgets its identities") {
  store s(settings, "boot-a", now_ms);
  std::vector<received_message> batch{message("commune/c/env/e-1/telemetry", R"({"seq":9,"pm2_5":1})"),
                                      message("commune/c/env/e-1/telemetry", R"({"seq":9,"pm2_5":1})")};
  const auto outcome = s.write(batch);
  CHECK(outcome.stored == 1);
  CHECK(outcome.duplicates == 1);
}

TEST_CASE("the identity window forgets the oldest first and agrees with a plain set under random use") {
  recent_identities window(1000);
  std::unordered_set<std::uint64_t> model;
  std::deque<std::uint64_t> order;
  std::mt19937_64 random(42);
  for (int i = 0; i < 200000; ++i) {
    const std::uint64_t id = 1 + random() % 5000;  // many repeats: exercises probing and erase
    if (random() % 10 == 0) {
      window.erase(id);
      model.erase(id);
      continue;
    }
    if (!window.contains(id)) {
      // The model forgets like the window: the oldest insertion goes first (even if it was
      // erased meanwhile), before the new one goes in.
      if (order.size() == 1000) {
        model.erase(order.front());
        order.pop_front();
      }
      window.insert(id);
      model.insert(id);
      order.push_back(id);
    }
    if (i % 997 == 0) {
      for (std::uint64_t probe = 1; probe <= 5000; ++probe) REQUIRE(window.contains(probe) == (model.count(probe) == 1));
    }
  }
  CHECK(window.size() == model.size());
}

TEST_CASE_FIXTURE(store_fixture, "rejections are counted per reason and kept in a bounded quarantine") {
  settings.quarantine_rows = 10;
  store s(settings, "boot-a", now_ms);
  std::vector<received_message> batch;
  for (int i = 0; i < 25; ++i) batch.push_back(message("commune/c/env/e-1/telemetry", "{broken " + std::to_string(i)));
  batch.push_back(message("commune/c/env/e-1/telemetry", R"({"seq":1,"pm2_5":-5,"humidity":50})"));
  const auto outcome = s.write(batch);
  CHECK(outcome.rejected == 25);
  CHECK(outcome.field_rejections == 1);
  CHECK(outcome.stored == 1);
  CHECK(count(s, "SELECT count(*) FROM quarantine") == 10);
  CHECK(count(s, "SELECT value FROM counters WHERE name = 'rejected.malformed_json'") == 25);
  CHECK(count(s, "SELECT value FROM counters WHERE name = 'rejected.out_of_range'") == 1);
  // The newest rows are the ones kept.
  CHECK(count(s, "SELECT count(*) FROM quarantine WHERE reason = 'out_of_range'") == 1);
  CHECK(count(s, "SELECT count(*) FROM quarantine WHERE payload = CAST('{broken 24' AS BLOB)") == 1);
  CHECK(count(s, "SELECT count(*) FROM quarantine WHERE payload = CAST('{broken 0' AS BLOB)") == 0);
}

TEST_CASE_FIXTURE(store_fixture, "over quota: raw readings go first, then events, alarms last - all counted") {
  settings.max_size = 1ull << 20;  // 1 MiB
  store s(settings, "boot-a", now_ms);
  int seq = 0;
  auto write_some = [&](const std::string& topic, const std::string& body_without_seq, int n) {
    std::vector<received_message> batch;
    for (int i = 0; i < n; ++i) batch.push_back(message(topic, "{\"seq\":" + std::to_string(++seq) + "," + body_without_seq));
    REQUIRE(s.write(batch).status == write_status::ok);
  };
  write_some("commune/c/camera/cam-1/event", R"("event":"tamper"})", 50);                 // alarms, oldest
  write_some("commune/c/camera/cam-1/event", R"("event":"motion","zone":"gate"})", 200);  // info events
  const std::string padding(150, 'x');
  for (int round = 0; round < 20; ++round) {
    write_some("commune/c/env/e-1/telemetry",
               R"("pm2_5":12.5,"pm10":20,"temperature":27.5,"humidity":81,"noise_level":50,"rainfall":0,"water_level":1.25,"note":")" + padding + "\"}",
               500);
  }
  REQUIRE(s.usage().used_bytes > settings.max_size);
  const auto report = s.enforce_limits(false);
  CHECK(report.under_limits);
  CHECK(report.messages > 0);
  CHECK(report.alarms == 0);
  CHECK(s.usage().used_bytes <= settings.max_size);
  CHECK(count(s, "SELECT count(*) FROM events WHERE severity = 2") == 50);  // every alarm kept
  CHECK(count(s, "SELECT value FROM counters WHERE name = 'shed_messages'") == static_cast<std::int64_t>(report.messages));
  // The oldest messages went first.
  CHECK(count(s, "SELECT min(seq) FROM messages m JOIN devices d ON d.id = m.device WHERE d.name = 'e-1'") > 251);
}

TEST_CASE_FIXTURE(store_fixture, "when only alarms remain over quota, the oldest alarms go and the newest stay") {
  settings.max_size = 1ull << 20;
  store s(settings, "boot-a", now_ms);
  std::vector<received_message> batch;
  const std::string zone(400, 'z');
  for (int i = 1; i <= 4000; ++i) {
    batch.push_back(message("commune/c/camera/cam-1/event", "{\"seq\":" + std::to_string(i) + ",\"event\":\"tamper\",\"zone\":\"" + zone.substr(0, 250) + "\"}"));
  }
  REQUIRE(s.write(batch).status == write_status::ok);
  const auto report = s.enforce_limits(false);
  CHECK(report.alarms > 0);
  CHECK(report.under_limits);
  CHECK(count(s, "SELECT max(id) FROM events") == 4000);  // the newest alarm is kept
  CHECK(count(s, "SELECT min(id) FROM events") > 1);       // the oldest went
  CHECK(count(s, "SELECT value FROM counters WHERE name = 'shed_alarms'") == static_cast<std::int64_t>(report.alarms));
}

TEST_CASE_FIXTURE(store_fixture, "a damaged store is moved aside, a fresh one starts, and the recovery is recorded") {
  {
    std::ofstream out(settings.path, std::ios::binary);
    out << std::string(8192, '\x5a');  // not an SQLite file at all
  }
  store s(settings, "boot-a", now_ms);
  CHECK(s.open_report().recovered);
  CHECK(std::filesystem::exists(s.open_report().moved_aside_to));
  CHECK(count(s, "SELECT count(*) FROM events WHERE kind = 'store_recovered' AND severity = 2") == 1);
}

TEST_CASE_FIXTURE(store_fixture,
                  "a store whose messages table is damaged fails its start-up check and is moved aside") {
  for (const auto check : {startup_check::quick, startup_check::full}) {
    const std::string check_name = check == startup_check::quick ? "quick_check" : "integrity_check";
    CAPTURE(check_name);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    settings.check = check;
    {
      // Enough rows for the messages table to have interior pages, all in the main file.
      store s(settings, "boot-a", now_ms);
      std::vector<received_message> batch;
      for (int seq = 1; seq <= 300; ++seq) {
        batch.push_back(message("commune/c/env/e-1/telemetry", fmt::format(R"({{"seq":{},"pm2_5":12.5}})", seq)));
      }
      REQUIRE(s.write(batch).status == write_status::ok);
      s.database().exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    std::int64_t root = 0, page_size = 0;
    {
      sqlite::database raw(settings.path, SQLITE_OPEN_READONLY);
      root = raw.query_int("SELECT rootpage FROM sqlite_master WHERE name = 'messages'");
      page_size = raw.query_int("PRAGMA page_size");
      REQUIRE(raw.query_int("SELECT count(*) FROM messages") == 300);
    }
    REQUIRE(root > 1);
    {
      // The root page's b-tree header: a page type no b-tree page has (SD-card bit rot, a torn write).
      std::fstream file(settings.path, std::ios::in | std::ios::out | std::ios::binary);
      file.seekp((root - 1) * page_size);
      file.put('\x77');
    }
    store s(settings, "boot-b", now_ms);
    CHECK(s.open_report().recovered);
    CHECK(s.open_report().recovery_reason.find("Page") != std::string::npos);  // SQLite's own finding
    CHECK(std::filesystem::exists(s.open_report().moved_aside_to));
    CHECK(count(s, "SELECT count(*) FROM readings WHERE device = 'e-1'") == 0);  // a fresh store
    CHECK(count(s, "SELECT count(*) FROM events WHERE kind = 'store_recovered' AND severity = 2") == 1);
  }
}

TEST_CASE_FIXTURE(store_fixture, "a store from a newer communegw is refused, not modified") {
  {
    store s(settings, "boot-a", now_ms);
    s.database().exec("PRAGMA user_version = 99");
  }
  CHECK_THROWS_WITH_AS(store(settings, "boot-a", now_ms),
                       doctest::Contains("schema version 99 is newer than this communegw understands"), store_error);
}

TEST_CASE_FIXTURE(store_fixture, "availability reports keep the latest state per device, when it changed, and whether it was retained") {
  store s(settings, "boot-a", now_ms);
  auto report = [&](availability state, bool retained, bool with_reading) {
    decoded_message decoded;
    decoded.device_id = "plug-1";
    decoded.reported_availability = state;
    if (with_reading) decoded.readings.push_back({find_metric("temperature"), 21.5});
    received_message m;
    m.topic = "zigbee2mqtt/plug-1/availability";
    m.received = {now_ms += 1000, 5000, true};
    m.retained = retained;
    m.result = std::move(decoded);
    std::vector<received_message> batch{std::move(m)};
    REQUIRE(s.write(batch).status == write_status::ok);
  };
  auto state = [&] {
    auto row = s.database().prepare(
        "SELECT availability, availability_since_ms, availability_retained FROM devices WHERE name = 'plug-1'");
    REQUIRE(row.step() == SQLITE_ROW);
    return std::tuple{std::string(row.column_text(0)), row.column_int(1), row.column_int(2)};
  };

  report(availability::online, true, false);  // the broker's stored copy, on subscribing
  const auto first = now_ms;
  CHECK(state() == std::tuple{std::string("online"), first, std::int64_t{1}});
  CHECK(count(s, "SELECT count(*) FROM messages") == 0);  // availability alone is not a message row

  report(availability::online, false, false);  // confirmed live: same state, so since is kept
  CHECK(state() == std::tuple{std::string("online"), first, std::int64_t{0}});

  report(availability::offline, false, true);  // a last will; readings in the same message are kept
  CHECK(state() == std::tuple{std::string("offline"), now_ms, std::int64_t{0}});
  CHECK(count(s, "SELECT count(*) FROM readings WHERE device = 'plug-1'") == 1);
  s.flush_counters_now();
  CHECK(count(s, "SELECT value FROM counters WHERE name = 'availability_reports'") == 3);
}

TEST_CASE_FIXTURE(store_fixture, "shedding knows what is safe elsewhere: aggregated readings go first, unsent alarms last") {
  settings.max_size = 1ull << 20;
  store s(settings, "boot-a", now_ms);
  const std::string padding(150, 'x');
  int seq = 0;
  for (int round = 0; round < 30; ++round) {
    std::vector<received_message> batch;
    for (int i = 0; i < 500; ++i) {
      batch.push_back(message("commune/c/env/e-1/telemetry",
                              "{\"seq\":" + std::to_string(++seq) +
                                  R"(,"pm2_5":12.5,"pm10":20,"temperature":27.5,"humidity":81,"note":")" + padding + "\"}"));
    }
    REQUIRE(s.write(batch).status == write_status::ok);
  }
  // The aggregator has folded the first 12,000 messages; two alarms wait for the uplink.
  s.database().exec("INSERT INTO cursors(name, value) VALUES('aggregate.messages', 12000)");
  s.database().exec("INSERT INTO outbox(stream, seq, created_ms, body) VALUES(0, 1, 0, '{\"kind\":\"tamper\"}'), "
                    "(0, 2, 0, '{\"kind\":\"power_loss\"}'), (3, 1, 0, '{\"kind\":\"camera_motion\"}')");
  REQUIRE(s.usage().used_bytes > settings.max_size);
  const auto report = s.enforce_limits(false);
  CHECK(report.under_limits);
  CHECK(report.messages > 0);
  // Only folded readings were needed: every message the aggregator has not seen is still there.
  CHECK(count(s, "SELECT count(*) FROM messages WHERE id > 12000") == 3000);
  CHECK(count(s, "SELECT count(*) FROM outbox") == 3);
  CHECK(count(s, "SELECT value FROM counters WHERE name = 'shed_messages'") == static_cast<std::int64_t>(report.messages));
}

namespace {

// A Frigate tracked-object report, decoded by the real driver.
received_message frigate_report(std::unique_ptr<driver>& frigate, std::int64_t& now_ms, std::string_view type,
                                std::string_view camera, std::string_view id, std::string_view after_extra) {
  const auto payload = fmt::format(
      R"({{"type":"{}","after":{{"id":"{}","camera":"{}","label":"person","start_time":1795431890.25,"false_positive":false{}{}}}}})",
      type, id, camera, after_extra.empty() ? "" : ",", after_extra);
  received_message m;
  m.topic = "frigate/events";
  m.received = {now_ms += 1000, 5000, true};
  m.payload_size = payload.size();
  m.result = frigate->decode(m.topic, payload);
  REQUIRE(std::holds_alternative<decoded_message>(m.result));
  return m;
}

}  // namespace

TEST_CASE_FIXTURE(store_fixture, "an incident reported as new, update, update, end is one event row with the final state") {
  store s(settings, "boot-a", now_ms);
  auto frigate = make_frigate_driver(driver_settings{"frigate", true, {"frigate/#"}});
  const std::vector<std::string> reports{
      R"("top_score":0.62,"frame_time":1795431890.5,"entered_zones":[])",
      R"("top_score":0.81,"frame_time":1795431900.5,"entered_zones":["san"])",
      R"("top_score":0.93,"frame_time":1795431910.5,"entered_zones":["san","cong"],"sub_label":["Nam",0.8])",
      R"("top_score":0.93,"frame_time":1795431950.5,"entered_zones":["san","cong"],"end_time":1795431950.5)"};
  const std::array<std::string_view, 4> types{"new", "update", "update", "end"};
  for (std::size_t i = 0; i < reports.size(); ++i) {
    std::vector<received_message> batch{frigate_report(frigate, now_ms, types[i], "gate", "1795431890.25-abc", reports[i])};
    REQUIRE(s.write(batch).status == write_status::ok);
  }
  CHECK(count(s, "SELECT count(*) FROM events") == 1);
  auto row = s.database().prepare(
      "SELECT start_ms, end_ms, closed, revision, json_extract(attributes, '$.score'), json_extract(attributes, '$.zones'), "
      "json_extract(attributes, '$.sub_label'), incident FROM events");
  REQUIRE(row.step() == SQLITE_ROW);
  CHECK(row.column_int(0) == 1795431890250);
  CHECK(row.column_int(1) == 1795431950500);
  CHECK(row.column_int(2) == 1);
  CHECK(row.column_int(3) == 4);
  CHECK(row.column_double(4) == doctest::Approx(0.93));
  CHECK(row.column_text(5) == R"(["san","cong"])");
  CHECK(row.column_text(6) == "Nam");
  CHECK(row.column_text(7) == "object:1795431890.25-abc");
  s.flush_counters_now();
  CHECK(count(s, "SELECT value FROM counters WHERE name = 'stored_events'") == 1);
  CHECK(count(s, "SELECT value FROM counters WHERE name = 'updated_incidents'") == 3);
  CHECK(count(s, "SELECT count(*) FROM messages") == 4);  // each report is still a stored message
}

TEST_CASE_FIXTURE(store_fixture, "an update that arrives late never lowers the score, drops a zone or reopens the incident") {
  store s(settings, "boot-a", now_ms);
  auto frigate = make_frigate_driver(driver_settings{"frigate", true, {"frigate/#"}});
  auto write = [&](std::string_view type, std::string_view extra) {
    std::vector<received_message> batch{frigate_report(frigate, now_ms, type, "gate", "x-1", extra)};
    REQUIRE(s.write(batch).status == write_status::ok);
  };
  write("end", R"("top_score":0.9,"entered_zones":["a","b"],"end_time":1795431950)");
  write("update", R"("top_score":0.5,"entered_zones":["c"])");
  CHECK(count(s, "SELECT count(*) FROM events") == 1);
  CHECK(count(s, "SELECT closed FROM events") == 1);
  CHECK(count(s, "SELECT end_ms FROM events") == 1795431950000);
  CHECK(s.database().query_int("SELECT json_extract(attributes, '$.score') = 0.9 FROM events") == 1);
  CHECK(s.database().query_int("SELECT json_extract(attributes, '$.zones') = '[\"a\",\"b\",\"c\"]' FROM events") == 1);
  // The same report again changes nothing: no new revision to send.
  const auto revision = count(s, "SELECT revision FROM events");
  write("update", R"("top_score":0.5,"entered_zones":["c"])");
  CHECK(count(s, "SELECT revision FROM events") == revision);
}

TEST_CASE_FIXTURE(store_fixture, "incident keys are per device: the same key on two cameras is two events") {
  store s(settings, "boot-a", now_ms);
  auto frigate = make_frigate_driver(driver_settings{"frigate", true, {"frigate/#"}});
  std::vector<received_message> batch{frigate_report(frigate, now_ms, "new", "gate", "same-id", ""),
                                      frigate_report(frigate, now_ms, "new", "yard", "same-id", "")};
  REQUIRE(s.write(batch).status == write_status::ok);
  CHECK(count(s, "SELECT count(*) FROM events") == 2);
  // One-off events (no incident key) are never merged, even when equal.
  std::vector<received_message> native_events{message("commune/c/camera/cam-1/event", R"({"event":"motion"})"),
                                              message("commune/c/camera/cam-1/event", R"({"event":"motion"})")};
  REQUIRE(s.write(native_events).status == write_status::ok);
  CHECK(count(s, "SELECT count(*) FROM events WHERE kind = 'camera_motion'") == 2);
}

TEST_CASE_FIXTURE(store_fixture, "a version 3 store is migrated to the current version with its events kept as closed one-off events") {
  {
    sqlite::database old(settings.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    for (std::size_t step = 0; step < 3; ++step) old.exec(schema_migrations()[step]);
    old.exec("PRAGMA user_version = 3");
    old.exec("INSERT INTO devices(name, kind, first_seen_ms) VALUES('cam-1', 'camera', 0)");
    old.exec("INSERT INTO boots(boot_id, first_seen_ms) VALUES('boot-old', 0)");
    old.exec("INSERT INTO events(message, device, kind, severity, recv_ms, boot, mono_ms, flags, attributes) "
             "VALUES(NULL, 1, 'camera_motion', 0, 1, 1, 1, 1, '{}')");
  }
  store s(settings, "boot-a", now_ms);
  CHECK(s.open_report().schema_version == static_cast<int>(schema_migrations().size()));
  CHECK(count(s, "SELECT count(*) FROM events WHERE incident IS NULL AND closed = 1 AND revision = 1") == 1);
}

TEST_CASE("the interned-name hash depends on every byte and the length") {
  const interned_name_hash hash;
  std::string name;
  for (int length = 0; length <= 40; ++length) {
    CAPTURE(length);
    const auto base = hash(name);
    for (std::size_t i = 0; i < name.size(); ++i) {  // the word loop, the overlapping last word, the short tail
      std::string changed = name;
      changed[i] = static_cast<char>(changed[i] ^ 0x01);
      CHECK(hash(changed) != base);
    }
    name += static_cast<char>(length % 5 == 0 ? 0xc3 : 'a' + length % 26);
    CHECK(hash(name) != base);
  }
  CHECK(hash(std::string("\0", 1)) != hash(""));
}

TEST_CASE_FIXTURE(store_fixture, "a store keeps its identity scheme - copies received after an upgrade still match") {
  const std::string topic = "commune/c/env/e-1/telemetry";
  const std::string payload = R"({"seq":41,"pm2_5":12})";
  {
    store fresh(settings, "boot-a", now_ms);
    CHECK(fresh.message_identity_scheme() == identity_scheme::xxh64);
    // As a version before schema 7 stored it: FNV-1a identities, no store_settings.
    REQUIRE(fresh.write(std::vector{message(topic, payload, identity_scheme::fnv1a_64)}).status == write_status::ok);
    fresh.flush_at_shutdown();
    fresh.database().exec("DROP TABLE store_settings");
    fresh.database().exec("DROP TABLE availability_history");  // schema 8's
    fresh.database().exec("DROP TABLE registry");
    fresh.database().exec("PRAGMA user_version = 6");
  }
  store upgraded(settings, "boot-b", now_ms);
  REQUIRE(upgraded.message_identity_scheme() == identity_scheme::fnv1a_64);
  // The broker's copy after the restart (DUP), identified as ingest does with the store's scheme: dropped.
  auto copy = message(topic, payload, upgraded.message_identity_scheme());
  copy.redelivered = true;
  REQUIRE(upgraded.write(std::vector{copy}).status == write_status::ok);
  CHECK(count(upgraded, "SELECT count(*) FROM messages") == 1);
  // With the newer scheme the same copy would have been stored again: what keeping the scheme prevents.
  auto rehashed = message(topic, payload, identity_scheme::xxh64);
  rehashed.redelivered = true;
  REQUIRE(upgraded.write(std::vector{rehashed}).status == write_status::ok);
  CHECK(count(upgraded, "SELECT count(*) FROM messages") == 2);
}

TEST_CASE_FIXTURE(store_fixture, "a store with an identity scheme this version does not know is refused") {
  {
    store s(settings, "boot-a", now_ms);
    s.database().exec("UPDATE store_settings SET value = 9 WHERE name = 'identity_scheme'");
  }
  CHECK_THROWS_WITH_AS(store(settings, "boot-b", now_ms), doctest::Contains("identity_scheme is 9"), store_error);
}

TEST_CASE_FIXTURE(store_fixture, "at commune rates the writer gathers for store.commit_interval - an alarm is committed at once") {
  using namespace std::chrono_literals;
  settings.commit_interval = 30s;  // long, so that "gathering" and "at once" cannot be confused
  settings.sync_interval = 10s;
  store db(settings, "boot-a", now_ms);
  ingest_queue queue(settings.max_uncommitted);
  // The writer decodes what the queue carries, with the drivers a config enables.
  manual_clock clock(now_ms, true);
  ingest decoder(parse_config("[gateway]\nid = \"g\"\nprovince = \"p\"\ncommune = \"c\"\n", "/x.toml"), clock);
  store_writer writer(db, queue, decoder, settings);
  writer.start();
  auto inbound = [&](std::string_view topic, std::string_view payload) {
    return inbound_message{.topic = topic, .payload = payload, .received = {now_ms += 1000, 5000, true}, .flags = {}};
  };
  sqlite::database reader(settings.path, SQLITE_OPEN_READONLY);
  auto committed = [&] { return reader.query_int("SELECT count(*) FROM messages"); };
  auto wait_committed = [&](std::int64_t n) {
    for (int i = 0; i < 100 && committed() < n; ++i) std::this_thread::sleep_for(50ms);
    return committed();
  };

  // Right after a start the writer commits continuously, until it has seen a
  // steady low rate (2 s): a crash loop must not lose a gathering each time.
  REQUIRE(queue.push_and_wait(inbound("commune/c/env/e-1/telemetry", R"({"seq":100,"pm2_5":5})")));
  CHECK(wait_committed(1) == 1);
  std::this_thread::sleep_for(2500ms);

  // Telemetry is acknowledged (push_and_wait returns) and gathered, not committed one by one.
  for (int seq = 1; seq <= 3; ++seq) {
    REQUIRE(queue.push_and_wait(inbound("commune/c/env/e-1/telemetry", fmt::format(R"({{"seq":{},"pm2_5":5}})", seq))));
  }
  std::this_thread::sleep_for(500ms);
  CHECK(committed() == 1);

  // A tamper alarm ends the gathering: it and everything before it commit now, not in 30 s.
  REQUIRE(queue.push_and_wait(inbound("commune/c/camera/cam-1/event", R"({"seq":1,"event":"tamper"})")));
  CHECK(wait_committed(5) == 5);
  CHECK(reader.query_int("SELECT count(*) FROM events WHERE severity = 2") == 1);

  // Stopping commits what is still gathered.
  REQUIRE(queue.push_and_wait(inbound("commune/c/env/e-1/telemetry", R"({"seq":4,"pm2_5":6})")));
  writer.stop();
  CHECK(committed() == 6);
}

TEST_CASE_FIXTURE(store_fixture, "below store.gather_above the writer commits every message - above it, it gathers") {
  using namespace std::chrono_literals;
  settings.commit_interval = 0s;  // the low-rate gathering is another rule
  settings.sync_interval = 10s;
  settings.max_uncommitted = 1000;
  manual_clock clock(now_ms, true);
  ingest decoder(parse_config("[gateway]\nid = \"g\"\nprovince = \"p\"\ncommune = \"c\"\n", "/x.toml"), clock);
  // 300 messages at no more than 1,000 a second (a 1 ms pause after each);
  // returns the commits for the last 200. The writer knows the rate after
  // 100 ms (rate_window); until then it commits continuously.
  auto commits_for_last_200 = [&](std::uint64_t gather_above, int first_seq) {
    settings.gather_above = gather_above;
    store db(settings, "boot-a", now_ms);
    ingest_queue queue(settings.max_uncommitted);
    store_writer writer(db, queue, decoder, settings);
    writer.start();
    std::uint64_t commits_before = 0;
    for (int i = 0; i < 300; ++i) {
      if (i == 100) commits_before = writer.stats().commits.load();
      const auto payload = fmt::format(R"({{"seq":{},"pm2_5":5}})", first_seq + i);
      REQUIRE(queue.push_and_wait(inbound_message{.topic = "commune/c/env/e-1/telemetry",
                                                  .payload = payload,
                                                  .received = {now_ms += 1, 5000, true},
                                                  .flags = {}}));
      std::this_thread::sleep_for(1ms);
    }
    writer.stop();
    CHECK(writer.stats().stored.load() == 300);
    return writer.stats().commits.load() - commits_before;
  };
  // The default: a message waits only for the commit in progress. Each is
  // read after the previous commit ended (1 ms apart, a commit takes ~0.1 ms),
  // so nearly every message is a commit of its own.
  const auto continuous = commits_for_last_200(5000, 1);
  CHECK(continuous >= 120);
  // 25 ms gatherings of ~25 messages.
  const auto gathered = commits_for_last_200(100, 1001);
  CHECK(gathered <= 30);
  CHECK(gathered * 4 < continuous);
}

TEST_CASE_FIXTURE(store_fixture, "every message has one outcome: stored, availability, duplicate, rejected, ignored") {
  store s(settings, "boot-a", now_ms);
  std::vector<received_message> batch;
  batch.push_back(message("commune/c/env/e-1/telemetry", R"({"seq":1,"humidity":50})"));  // stored
  batch.push_back(message("commune/c/env/e-1/telemetry", R"({"seq":1,"humidity":50})"));  // its duplicate
  batch.push_back(message("commune/c/env/e-1/telemetry", "{broken"));                     // rejected whole
  batch.push_back(message("commune/c/env/e-1/telemetry", R"({"seq":2,"pm2_5":-5})"));     // every value refused
  batch.push_back(message("commune/c/env/e-1/telemetry", R"({"seq":3,"no_such_metric":1})"));  // nothing to keep
  auto only_availability = message("commune/c/env/e-1/telemetry", R"({"seq":4,"humidity":51})");
  auto& decoded = std::get<decoded_message>(only_availability.result);
  decoded.readings.clear();
  decoded.reported_availability = availability::online;
  batch.push_back(only_availability);
  auto command = message("commune/c/env/e-1/telemetry", R"({"seq":5,"humidity":52})");
  command.result = ignored_message(ignore_reason::ignored_topic);
  batch.push_back(command);
  REQUIRE(s.write(batch).status == write_status::ok);
  s.flush_counters_now();
  auto value = [&](std::string_view name) {
    return count(s, fmt::format("SELECT coalesce((SELECT value FROM counters WHERE name = '{}'), 0)", name));
  };
  CHECK(value(counter::messages_stored) == 1);
  CHECK(value(counter::duplicates) == 1);
  CHECK(value(counter::messages_rejected) == 2);
  CHECK(value(counter::messages_availability_only) == 1);
  CHECK(value("messages.ignored.no_readings") == 1);
  CHECK(value("messages.ignored.ignored_topic") == 1);
  // Seven messages, seven outcomes.
  CHECK(count(s, "SELECT sum(value) FROM counters WHERE name LIKE 'messages.%' OR name IN "
                 "('duplicate_messages', 'retained_repeats')") == 7);
}
