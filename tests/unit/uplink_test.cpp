// Aggregation, the outbox, the uplink wire format and the centre-side store,
// against real SQLite files.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <simdjson.h>

#include "drivers/frigate/frigate_driver.hpp"
#include "drivers/native/native_driver.hpp"
#include "gateway/aggregate/aggregator.hpp"
#include "gateway/central/central_store.hpp"
#include "gateway/store/restamp.hpp"
#include "gateway/store/store.hpp"
#include "gateway/uplink/drain_meter.hpp"
#include "gateway/uplink/outbox.hpp"
#include "gateway/uplink/wire.hpp"

using namespace communegw;

namespace {

constexpr std::int64_t hour_ms = 3'600'000;
// 2026-11-23T10:00:00+07:00, the start of a local hour.
constexpr std::int64_t local_10h = 1'795'402'800'000;

struct uplink_fixture {
  std::filesystem::path dir;
  store_settings settings;
  aggregate_settings aggregate;
  std::unique_ptr<driver> native = make_native_driver(driver_settings{"native", true, {}});
  std::unique_ptr<store> db;
  std::int64_t seq = 0;

  uplink_fixture() {
    std::string pattern = (std::filesystem::temp_directory_path() / "communegw-uplink-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()));
    dir = pattern;
    settings.path = dir / "gw.db";
    settings.max_size = 64ull << 20;
    settings.quarantine_rows = 100;
    settings.max_batch = 1000;
    settings.dedupe_window = 1000;
    aggregate.periods = {std::chrono::minutes(5), std::chrono::hours(1)};
    aggregate.utc_offset = std::chrono::hours(7);
    aggregate.expected_period = std::chrono::minutes(1);
    aggregate.close_delay = std::chrono::minutes(2);
    aggregate.night_start = std::chrono::hours(18);
    aggregate.night_end = std::chrono::hours(6);
    db = std::make_unique<store>(settings, "boot-a", local_10h);
  }
  ~uplink_fixture() {
    db.reset();
    std::filesystem::remove_all(dir);
  }

  // One env telemetry message whose device time is `device_ms`.
  void ingest(const std::string& device, std::int64_t device_ms, const std::string& metrics, std::string type = "telemetry",
              std::string kind = "env") {
    const auto topic = "commune/c/" + kind + "/" + device + "/" + type;
    const auto payload = fmt::format(R"({{"seq":{},"ts":{},{}}})", ++seq, device_ms / 1000, metrics);
    received_message m;
    m.topic = topic;
    m.received = {device_ms + 500, 1000, true};
    m.result = native->decode(topic, payload);
    if (const auto* why = std::get_if<rejection>(&m.result)) FAIL(topic, " ", payload, ": ", why->detail);
    const auto key = identify(std::get<decoded_message>(m.result), topic, payload);
    m.identity = key.identity;
    m.identity_unique = key.unique;
    std::vector<received_message> batch{std::move(m)};
    REQUIRE(db->write(batch).stored == 1);
  }
  sqlite::database& sql() { return db->database(); }
};

struct window_row {
  std::int64_t count;
  double min, max, mean, last;
};

window_row stats_of(sqlite::database& db, const std::string& device, std::int64_t period_s, std::int64_t start_ms,
                    const std::string& metric) {
  auto stmt = db.prepare(
      "SELECT a.count, a.min, a.max, a.sum / a.count, a.last FROM aggregates a JOIN devices d ON d.id = a.device "
      "WHERE d.name = ? AND a.period_s = ? AND a.start_ms = ? AND a.metric = ?");
  stmt.bind(1, device).bind(2, period_s).bind(3, start_ms).bind(4, metric);
  REQUIRE(stmt.step() == SQLITE_ROW);
  return {stmt.column_int(0), stmt.column_double(1), stmt.column_double(2), stmt.column_double(3), stmt.column_double(4)};
}

std::vector<std::string> outbox_bodies(sqlite::database& db, uplink_stream stream) {
  auto stmt = db.prepare("SELECT body FROM outbox WHERE stream = ? ORDER BY seq");
  stmt.bind(1, static_cast<std::int64_t>(stream));
  std::vector<std::string> out;
  while (stmt.step() == SQLITE_ROW) out.emplace_back(stmt.column_text(0));
  return out;
}

}  // namespace

TEST_CASE("windows align to local commune time, also for times before 1970") {
  const auto offset = std::chrono::hours(7);
  // 10:37 local is in the 10:00 local hour, which starts at 03:00 UTC.
  CHECK(window_start_ms(local_10h + 37 * 60'000, std::chrono::hours(1), offset) == local_10h);
  CHECK(window_start_ms(local_10h + 37 * 60'000, std::chrono::minutes(5), offset) == local_10h + 35 * 60'000);
  // A day window starts at local midnight: 17:00 UTC the day before.
  CHECK(window_start_ms(local_10h, std::chrono::hours(24), offset) == local_10h - 10 * hour_ms);
  CHECK(window_start_ms(local_10h - 1, std::chrono::hours(1), offset) == local_10h - hour_ms);
  CHECK(window_start_ms(-1, std::chrono::hours(1), std::chrono::hours(0)) == -hour_ms);
}

TEST_CASE_FIXTURE(uplink_fixture, "aggregates come from the store: each sample counted once, across passes and restarts") {
  ingest("e-1", local_10h + 60'000, R"("pm2_5":10,"temperature":25)");
  ingest("e-1", local_10h + 120'000, R"("pm2_5":30)");
  ingest("e-1", local_10h + 6 * 60'000, R"("pm2_5":20)");
  {
    aggregator pass(sql(), aggregate, {std::chrono::hours(1)});
    const auto folded = pass.fold(2);  // a small limit: two passes needed
    CHECK(folded.status == SQLITE_OK);
    CHECK(folded.messages == 2);
    CHECK_FALSE(folded.caught_up);
    CHECK(pass.fold(1000).messages == 1);
    CHECK(pass.fold(1000).messages == 0);  // nothing new: nothing folded again
  }
  const auto hour = stats_of(sql(), "e-1", 3600, local_10h, "pm2_5");
  CHECK(hour.count == 3);
  CHECK(hour.min == 10);
  CHECK(hour.max == 30);
  CHECK(hour.mean == doctest::Approx(20));
  CHECK(hour.last == 20);
  CHECK(stats_of(sql(), "e-1", 300, local_10h, "pm2_5").count == 2);
  CHECK(stats_of(sql(), "e-1", 300, local_10h + 5 * 60'000, "pm2_5").count == 1);
  CHECK(stats_of(sql(), "e-1", 3600, local_10h, "temperature").count == 1);

  // A new process on the same store starts where the last one stopped.
  ingest("e-1", local_10h + 7 * 60'000, R"("pm2_5":40)");
  aggregator after_restart(sql(), aggregate, {std::chrono::hours(1)});
  CHECK(after_restart.fold(1000).messages == 1);
  CHECK(stats_of(sql(), "e-1", 3600, local_10h, "pm2_5").count == 4);
  CHECK(stats_of(sql(), "e-1", 3600, local_10h, "pm2_5").last == 40);
}

TEST_CASE_FIXTURE(uplink_fixture, "a closed window is queued once - late data re-computes it as a new revision") {
  aggregator pass(sql(), aggregate, {std::chrono::hours(1)});
  outbox out(sql(), aggregate);
  ingest("sl-1", local_10h + 60'000, R"("lamp_on":1,"load_power":40)", "status", "streetlight");
  ingest("sl-1", local_10h + 30 * 60'000, R"("lamp_on":0,"load_power":0)", "status", "streetlight");
  REQUIRE(pass.fold(1000).status == SQLITE_OK);

  // Still open (and within close_delay after its end): nothing queued.
  CHECK(out.feed_aggregates(100, local_10h + hour_ms + 60'000).queued == 0);
  CHECK(out.feed_aggregates(100, local_10h + hour_ms + 2 * 60'000).queued == 1);
  CHECK(out.feed_aggregates(100, local_10h + hour_ms + 10 * 60'000).queued == 0);  // unchanged: not again

  // Revision 1 is being sent when a late sample arrives: revision 2 is queued after it.
  const auto first_body = outbox_bodies(sql(), uplink_stream::aggregates).at(0);
  ingest("sl-1", local_10h + 45 * 60'000, R"("lamp_on":1,"load_power":40)", "status", "streetlight");  // late
  REQUIRE(pass.fold(1000).status == SQLITE_OK);
  CHECK(out.feed_aggregates(100, local_10h + 2 * hour_ms, {1}).queued == 1);
  const std::vector<std::int64_t> sent{1};
  REQUIRE(out.acknowledge(uplink_stream::aggregates, sent, 100, local_10h) == SQLITE_OK);

  // Revision 2 still waits when more late data comes: it is replaced in place
  // (same seq, revision 3), not followed by a third record.
  ingest("sl-1", local_10h + 50 * 60'000, R"("lamp_on":1,"load_power":40)", "status", "streetlight");
  REQUIRE(pass.fold(1000).status == SQLITE_OK);
  CHECK(out.feed_aggregates(100, local_10h + 2 * hour_ms).queued == 1);
  CHECK(sql().query_int("SELECT count(*) FROM outbox WHERE stream = 2") == 1);
  CHECK(sql().query_int("SELECT seq FROM outbox WHERE stream = 2") == 2);

  const std::vector<std::string> bodies{first_body, outbox_bodies(sql(), uplink_stream::aggregates).at(0)};
  simdjson::ondemand::parser parser;
  simdjson::padded_string first(bodies[0]), second(bodies[1]);
  auto a = parser.iterate(first);
  CHECK(std::int64_t(a["revision"]) == 1);
  CHECK(std::int64_t(a["start_ms"]) == local_10h);
  CHECK(std::int64_t(a["metrics"]["lamp_on"]["n"]) == 2);
  CHECK(double(a["derived"]["lamp_on_hours"]) == doctest::Approx(0.5));
  auto b = parser.iterate(second);
  CHECK(std::int64_t(b["revision"]) == 3);
  CHECK(std::int64_t(b["metrics"]["lamp_on"]["n"]) == 4);
  CHECK(double(b["completeness"]) == doctest::Approx(4.0 / 60));
  // The 5-minute windows are local only: uplink.aggregate_periods is 1h here.
  CHECK(sql().query_int("SELECT count(*) FROM aggregate_windows WHERE period_s = 300") == 0);
}

TEST_CASE_FIXTURE(uplink_fixture, "events are queued once each, alarms in their own stream, seqs gap-free, acknowledged records leave") {
  outbox out(sql(), aggregate);
  ingest("cam-1", local_10h, R"("event":"motion","zone":"gate")", "event", "camera");
  ingest("cam-1", local_10h + 1000, R"("event":"tamper")", "event", "camera");
  ingest("cam-1", local_10h + 2000, R"("event":"object","zone":"road","object":{"class":"person","count":2})", "event", "camera");
  CHECK(out.feed_events(100, local_10h).queued == 3);
  CHECK(out.feed_events(100, local_10h).queued == 0);
  CHECK(outbox_bodies(sql(), uplink_stream::alarms).size() == 1);
  CHECK(outbox_bodies(sql(), uplink_stream::events).size() == 2);
  CHECK(outbox_bodies(sql(), uplink_stream::alarms)[0].find("\"kind\":\"tamper\"") != std::string::npos);

  auto backlog = out.backlog();
  CHECK(backlog[static_cast<std::size_t>(uplink_stream::events)].records == 2);
  CHECK(backlog[static_cast<std::size_t>(uplink_stream::events)].next_seq == 3);

  // In flight records are skipped; newest first when asked.
  const auto newest = out.peek(uplink_stream::events, true, {}, 10, 1 << 20);
  REQUIRE(newest.size() == 2);
  CHECK(newest[0].seq == 2);
  CHECK(out.peek(uplink_stream::events, false, {1}, 10, 1 << 20).size() == 1);
  CHECK(out.peek(uplink_stream::events, false, {}, 10, 1).size() == 1);  // over max_bytes: still one

  const std::vector<std::int64_t> acked{1, 2};
  CHECK(out.acknowledge(uplink_stream::events, acked, 321, local_10h) == SQLITE_OK);
  CHECK(out.acknowledge(uplink_stream::events, acked, 321, local_10h) == SQLITE_OK);  // a late second PUBACK
  backlog = out.backlog();
  CHECK(backlog[static_cast<std::size_t>(uplink_stream::events)].records == 0);
  CHECK(backlog[static_cast<std::size_t>(uplink_stream::events)].sent == 2);
  CHECK(out.bytes_sent_in_month(local_10h) == 642);
  CHECK(month_key(local_10h) == "2026-11");

  // New events continue the sequence: no gap, no reuse.
  ingest("cam-1", local_10h + 3000, R"("event":"motion")", "event", "camera");
  CHECK(out.feed_events(100, local_10h).queued == 1);
  CHECK(out.peek(uplink_stream::events, false, {}, 10, 1 << 20).at(0).seq == 3);
}

TEST_CASE("an uplink batch survives the wire - a bomb or garbage is refused") {
  const gateway_settings gw{"gw-1", "prov", "com"};
  CHECK(uplink_topic(gw, "alarms") == "communegw/v1/prov/com/gw-1/alarms");
  const std::vector<outbox_record> records{{7, R"({"kind":"tamper"})"}, {8, "{}"}};
  const auto payload = encode_batch(gw, uplink_stream::alarms, records, 42);
  const auto decoded = decompress_batch(payload, 1 << 20);
  REQUIRE(decoded.error.empty());
  CHECK(decoded.json ==
        R"({"v":1,"gateway":"gw-1","province":"prov","commune":"com","stream":"alarms","sent_ms":42,"records":[{"seq":7,"kind":"tamper"},{"seq":8}]})");
  CHECK(decompress_batch(payload, 10).error.find("over the 10 byte limit") != std::string::npos);
  CHECK(decompress_batch("not zstd at all", 1 << 20).error == "not a zstd frame");
}

TEST_CASE("the centre stores each record once, keeps the latest aggregate revision and reports gaps") {
  std::string pattern = (std::filesystem::temp_directory_path() / "communegw-central-XXXXXX").string();
  REQUIRE(::mkdtemp(pattern.data()));
  const std::filesystem::path dir = pattern;
  {
    central_store centre(dir / "central.db");
    const gateway_settings gw{"gw-1", "prov", "com"};
    const auto topic = uplink_topic(gw, "aggregates");
    auto aggregate = [](std::int64_t seq, int revision, int n) {
      return outbox_record{seq, fmt::format(R"({{"device":"sl-1","period_s":3600,"start_ms":1000,"revision":{},"metrics":{{"lamp_on":{{"n":{}}}}}}})",
                                            revision, n)};
    };
    const std::vector<outbox_record> first{aggregate(1, 1, 2), aggregate(2, 2, 3)};
    auto result = centre.ingest(topic, encode_batch(gw, uplink_stream::aggregates, first, 1));
    CHECK(result.ok);
    CHECK(result.stored == 2);
    // The same batch again (a gateway that died before the PUBACK): all duplicates.
    result = centre.ingest(topic, encode_batch(gw, uplink_stream::aggregates, first, 2));
    CHECK(result.duplicates == 2);
    CHECK(result.stored == 0);
    // An older revision arriving late does not replace the newer one.
    const std::vector<outbox_record> late{aggregate(4, 1, 99)};
    CHECK(centre.ingest(topic, encode_batch(gw, uplink_stream::aggregates, late, 3)).stored == 1);
    auto latest = centre.database().prepare("SELECT revision, body FROM latest_aggregates");
    REQUIRE(latest.step() == SQLITE_ROW);
    CHECK(latest.column_int(0) == 2);
    CHECK(latest.step() == SQLITE_DONE);

    const auto summary = centre.summary();
    REQUIRE(summary.size() == 1);
    CHECK(summary[0].records == 3);
    CHECK(summary[0].max_seq == 4);
    CHECK(summary[0].gaps == 1);  // seq 3 never arrived
    CHECK(summary[0].duplicates == 2);
    CHECK(format_central_summary(summary).find("gw-1") != std::string::npos);

    CHECK_FALSE(centre.ingest("elsewhere/x", "zz").ok);
    CHECK_FALSE(centre.ingest(topic, "garbage").ok);
    CHECK(centre.ingest(uplink_topic({"gw-2", "prov", "com"}, "aggregates"),
                        encode_batch(gw, uplink_stream::aggregates, first, 1)).error == "gateway in payload differs from topic");
    CHECK(centre.ingest(uplink_topic(gw, "status"), R"({"state":"online"})").ok);

    // Incidents: each revision is a record of its own; the latest revision wins, in any arrival order.
    auto incident = [](std::int64_t seq, int revision, bool closed) {
      return outbox_record{seq, fmt::format(R"({{"device":"frigate/gate","kind":"camera_object","incident":"object:a-1",)"
                                            R"("revision":{},"closed":{},"attributes":{{}}}})", revision, closed)};
    };
    const auto events_topic = uplink_topic(gw, "events");
    const std::vector<outbox_record> opened_and_closed{incident(1, 1, false), incident(3, 3, true)}, update{incident(2, 2, false)};
    CHECK(centre.ingest(events_topic, encode_batch(gw, uplink_stream::events, opened_and_closed, 4)).stored == 2);
    CHECK(centre.ingest(events_topic, encode_batch(gw, uplink_stream::events, update, 5)).stored == 1);
    CHECK(centre.database().query_int("SELECT count(*) FROM latest_incidents") == 1);
    CHECK(centre.database().query_int("SELECT revision FROM latest_incidents WHERE incident = 'object:a-1'") == 3);
    CHECK(centre.database().query_int("SELECT count(*) FROM records WHERE stream = 'events'") == 3);
    CHECK(centre.database().query_int("SELECT sum(count) FROM rejections") == 3);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE_FIXTURE(uplink_fixture, "records received before the clock was trusted are re-stamped from the boot's monotonic clock") {
  // Received at mono 1000 ms with a wall clock of 1970 + a bit (untrusted).
  auto write_untrusted = [&](const std::string& device, std::int64_t mono_ms) {
    const auto topic = "commune/c/env/" + device + "/telemetry";
    const std::string payload = R"({"pm2_5":5})";
    received_message m;
    m.topic = topic;
    m.received = {123'456, mono_ms, false};
    m.result = native->decode(topic, payload);
    std::vector<received_message> batch{std::move(m)};
    REQUIRE(db->write(batch).stored == 1);
  };
  write_untrusted("e-1", 1000);
  write_untrusted("e-2", 61'000);
  // Now NTP answered: at mono 100 s the wall clock reads 10:00 local.
  const std::int64_t wall_minus_mono = local_10h - 100'000;
  restamper fix(sql(), "boot-a");
  const auto result = fix.run(wall_minus_mono, 1000);
  CHECK(result.status == SQLITE_OK);
  CHECK(result.messages == 2);
  CHECK(sql().query_int("SELECT recv_ms FROM readings WHERE device = 'e-1'") == local_10h - 99'000);
  CHECK(sql().query_int("SELECT recv_ms FROM readings WHERE device = 'e-2'") == local_10h - 39'000);
  CHECK(sql().query_int("SELECT count(*) FROM messages WHERE flags & 9 = 9") == 2);  // trusted and re-stamped
  CHECK(fix.run(wall_minus_mono, 1000).messages == 0);  // done once

  // Another boot's monotonic clock says nothing about this one: its rows stay untrusted.
  db = std::make_unique<store>(settings, "boot-b", local_10h);
  write_untrusted("e-3", 5000);
  restamper other(sql(), "boot-a");
  CHECK(other.run(wall_minus_mono, 1000).messages == 0);
  CHECK(sql().query_int("SELECT count(*) FROM messages WHERE flags & 1 = 0") == 1);
}

TEST_CASE_FIXTURE(uplink_fixture, "samples received before the clock was trusted wait for it, up to aggregate.clock_wait") {
  aggregate.clock_wait = std::chrono::hours(1);
  auto write = [&](const std::string& device, std::int64_t wall_ms, std::int64_t mono_ms, bool trusted) {
    const auto topic = "commune/c/env/" + device + "/telemetry";
    received_message m;
    m.topic = topic;
    m.received = {wall_ms, mono_ms, trusted};
    m.result = native->decode(topic, R"({"pm2_5":5})");
    std::vector<received_message> batch{std::move(m)};
    REQUIRE(db->write(batch).stored == 1);
  };
  auto windows_of = [&](const std::string& device) {
    return sql().query_int(
        "SELECT count(*) FROM aggregates a JOIN devices d ON d.id = a.device WHERE d.name = '" + device + "'");
  };
  // A Pi without an RTC: the wall clock reads 1970 + 2 minutes, untrusted.
  write("e-1", 123'000, 1'000, false);
  write("e-2", 124'000, 2'000, false);
  restamper fix(sql(), "boot-a");
  REQUIRE(fix.boot_row() >= 0);
  aggregator agg(sql(), aggregate, {});

  // Two minutes after boot: they wait, and nothing else is folded past them.
  auto first = agg.fold(1000, {.boot_row = fix.boot_row(), .now_mono_ms = 120'000});
  CHECK(first.status == SQLITE_OK);
  CHECK(first.waiting_for_clock);
  CHECK(first.caught_up);
  CHECK(first.messages == 0);
  CHECK(windows_of("e-1") == 0);

  // NTP answers at mono 100 s = 10:00 local: re-stamped, they land in the 09:55 window, not in 1970.
  REQUIRE(fix.run(local_10h - 100'000, 1000).messages == 2);
  auto second = agg.fold(1000, {.boot_row = fix.boot_row(), .now_mono_ms = 130'000});
  CHECK_FALSE(second.waiting_for_clock);
  CHECK(second.messages == 2);
  CHECK(stats_of(sql(), "e-1", 300, local_10h - 5 * 60'000, "pm2_5").count == 1);
  CHECK(sql().query_int("SELECT sum(untrusted) FROM aggregates") == 0);
  CHECK(sql().query_int("SELECT count(*) FROM aggregates WHERE start_ms < 0 OR start_ms < 86400000") == 0);

  // The clock never comes: after clock_wait the samples are folded at their untrusted time, marked so.
  write("e-3", 200'000, 200'000, false);
  CHECK(agg.fold(1000, {.boot_row = fix.boot_row(), .now_mono_ms = 200'000 + 3'599'000}).waiting_for_clock);
  auto late = agg.fold(1000, {.boot_row = fix.boot_row(), .now_mono_ms = 200'000 + 3'601'000});
  CHECK_FALSE(late.waiting_for_clock);
  CHECK(late.messages == 1);
  CHECK(windows_of("e-3") == 2);
  CHECK(sql().query_int("SELECT sum(untrusted) FROM aggregates") == 2);  // one sample, two periods
}

TEST_CASE_FIXTURE(uplink_fixture, "raw readings are opt-in per metric, start from now, and are the first thing a tight budget drops") {
  outbox out(sql(), aggregate);
  ingest("e-1", local_10h, R"("pm2_5":1,"temperature":20)");  // history: never sent
  CHECK(out.feed_raw(R"(["pm2_5"])", 100, local_10h).queued == 0);
  ingest("e-1", local_10h + 1000, R"("pm2_5":2,"temperature":21)");
  ingest("e-1", local_10h + 2000, R"("humidity":80)");  // no chosen metric: nothing to send
  CHECK(out.feed_raw(R"(["pm2_5"])", 100, local_10h).queued == 1);
  const auto bodies = outbox_bodies(sql(), uplink_stream::raw);
  REQUIRE(bodies.size() == 1);
  CHECK(bodies[0].find(R"("readings":{"pm2_5":2})") != std::string::npos);
  CHECK(bodies[0].find("temperature") == std::string::npos);
  CHECK(out.shed_raw().queued == 1);
  CHECK(outbox_bodies(sql(), uplink_stream::raw).empty());
  CHECK(sql().query_int("SELECT value FROM counters WHERE name = 'shed_uplink.raw'") == 1);
}

TEST_CASE_FIXTURE(uplink_fixture, "streetlight windows report night-time lamp availability and lowest night charge, cameras count by zone") {
  aggregate.periods = {std::chrono::hours(24)};
  aggregator daily(sql(), aggregate, {std::chrono::hours(24)});
  outbox out(sql(), aggregate);
  const std::int64_t local_midnight = local_10h - 10 * hour_ms;
  // Day: lamp off (as it should be), battery full. Night: lamp on twice, off once; battery down to 40.
  ingest("sl-1", local_10h, R"("lamp_on":0,"battery_soc":100)", "status", "streetlight");
  ingest("sl-1", local_midnight + 19 * hour_ms, R"("lamp_on":1,"battery_soc":70)", "status", "streetlight");
  ingest("sl-1", local_midnight + 23 * hour_ms, R"("lamp_on":0,"battery_soc":55)", "status", "streetlight");
  ingest("sl-1", local_midnight + 2 * hour_ms, R"("lamp_on":1,"battery_soc":40)", "status", "streetlight");
  ingest("cam-1", local_10h, R"("event":"object","zone":"gate")", "event", "camera");
  ingest("cam-1", local_10h + 1000, R"("event":"object","zone":"gate")", "event", "camera");
  ingest("cam-1", local_10h + 2000, R"("event":"motion","zone":"road:north")", "event", "camera");
  REQUIRE(daily.fold(1000).status == SQLITE_OK);
  REQUIRE(out.feed_aggregates(100, local_midnight + 25 * hour_ms).queued == 2);

  simdjson::ondemand::parser parser;
  for (const auto& body : outbox_bodies(sql(), uplink_stream::aggregates)) {
    simdjson::padded_string json(body);
    auto doc = parser.iterate(json);
    if (std::string_view(doc["device"]) == "sl-1") {
      CHECK(double(doc["derived"]["night_lamp_availability"]) == doctest::Approx(2.0 / 3));
      CHECK(double(doc["derived"]["night_min_battery_soc"]) == 40);
    } else {
      CHECK(body.find(R"("events":{"camera_motion":1,"camera_object":2})") != std::string::npos);
      CHECK(body.find(R"("completeness":null)") != std::string::npos);  // events only: nothing expected
      INFO(body);
      CHECK(body.find(R"("events_by_zone":[["gate","camera_object",2],["road:north","camera_motion",1]])") != std::string::npos);
    }
  }
}

TEST_CASE("the drain meter measures only time when the link was the limit") {
  using namespace std::chrono_literals;
  drain_meter meter(30s);
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  // Idle link: the outbox empties faster than it fills; nothing is learnt.
  meter.on_pump(false, t0);
  meter.on_acknowledged(500);
  CHECK_FALSE(meter.poll(t0 + 40s));

  // 30 s with more waiting than it could send, 600 records acknowledged: 20 records/s.
  meter.on_pump(true, t0 + 40s);
  meter.on_acknowledged(300);
  meter.on_pump(true, t0 + 55s);
  CHECK_FALSE(meter.poll(t0 + 60s));  // not a whole window yet
  meter.on_acknowledged(300);
  const auto first = meter.poll(t0 + 70s);
  REQUIRE(first);
  CHECK(*first == doctest::Approx(20.0));

  // A disconnect ends the window unmeasured; the next one (40 records/s) is smoothed with the last.
  meter.on_acknowledged(10'000);
  meter.on_disconnected();
  CHECK_FALSE(meter.poll(t0 + 200s));
  meter.on_pump(true, t0 + 200s);
  meter.on_acknowledged(1200);
  const auto second = meter.poll(t0 + 230s);
  REQUIRE(second);
  CHECK(*second == doctest::Approx(30.0));

  // The outbox ran dry mid-window: no measurement from it.
  meter.on_pump(true, t0 + 230s);
  meter.on_acknowledged(5);
  meter.on_pump(false, t0 + 240s);
  CHECK_FALSE(meter.poll(t0 + 270s));
}

TEST_CASE_FIXTURE(uplink_fixture, "the measured drain rate is kept in the store for check and query") {
  outbox out(sql(), aggregate);
  CHECK_FALSE(read_drain_rate(sql()));
  REQUIRE(out.record_drain_rate(12.3456, local_10h) == SQLITE_OK);
  const auto rate = read_drain_rate(sql());
  REQUIRE(rate);
  CHECK(rate->records_per_s == doctest::Approx(12.346));
  CHECK(rate->measured_ms == local_10h);
}

namespace {

// A Frigate tracked-object report received at `received_ms`, decoded by the real driver and stored.
void ingest_frigate(uplink_fixture& f, driver& frigate, std::int64_t received_ms, std::string_view type, std::string_view id,
                    std::string_view after_extra) {
  const auto payload = fmt::format(
      R"({{"type":"{}","after":{{"id":"{}","camera":"gate","label":"person","start_time":{}{}}}}})", type, id,
      (local_10h + 1000) / 1000, after_extra);
  received_message m;
  m.topic = "frigate/events";
  m.received = {received_ms, 1000, true};
  m.result = frigate.decode(m.topic, payload);
  if (const auto* why = std::get_if<rejection>(&m.result)) FAIL(payload, ": ", why->detail);
  std::vector<received_message> batch{std::move(m)};
  REQUIRE(f.db->write(batch).status == write_status::ok);
}

}  // namespace

TEST_CASE_FIXTURE(uplink_fixture, "an incident is counted and sent once it ends, with its final state - one left open goes up after the timeout and again when it changes") {
  aggregate.incident_timeout = std::chrono::minutes(10);
  auto frigate = make_frigate_driver(driver_settings{"frigate", true, {"frigate/#"}});
  aggregator pass(sql(), aggregate, {});
  outbox out(sql(), aggregate);
  const std::int64_t minute = 60'000;

  ingest_frigate(*this, *frigate, local_10h + minute, "new", "a-1", R"(,"top_score":0.6)");
  ingest_frigate(*this, *frigate, local_10h + 2 * minute, "update", "a-1", R"(,"top_score":0.8,"entered_zones":["san"])");
  // Still open and young: neither counted nor sent.
  CHECK(out.feed_events(100, local_10h + 3 * minute).queued == 0);
  CHECK(pass.fold(1000, {.now_ms = local_10h + 3 * minute}).events == 0);
  ingest_frigate(*this, *frigate, local_10h + 4 * minute, "end", "a-1",
                 fmt::format(R"(,"top_score":0.8,"entered_zones":["san","cong"],"end_time":{})", (local_10h + 4 * minute) / 1000));
  CHECK(out.feed_events(100, local_10h + 4 * minute).queued == 1);
  CHECK(out.feed_events(100, local_10h + 5 * minute).queued == 0);
  const auto sent = outbox_bodies(sql(), uplink_stream::events);
  REQUIRE(sent.size() == 1);
  INFO(sent[0]);
  CHECK(sent[0].find(R"("incident":"object:a-1","revision":3,"closed":true)") != std::string::npos);
  CHECK(sent[0].find(fmt::format(R"("end_ms":{})", local_10h + 4 * minute)) != std::string::npos);
  CHECK(sent[0].find(R"("zones":["san","cong"])") != std::string::npos);

  // Counted once, with every zone it entered.
  CHECK(pass.fold(1000, {.now_ms = local_10h + 5 * minute}).events == 1);
  CHECK(pass.fold(1000, {.now_ms = local_10h + 6 * minute}).events == 0);
  CHECK(stats_of(sql(), "frigate/gate", 3600, local_10h, "event:camera_object").count == 1);
  CHECK(stats_of(sql(), "frigate/gate", 3600, local_10h, "zone:san:camera_object").count == 1);
  CHECK(stats_of(sql(), "frigate/gate", 3600, local_10h, "zone:cong:camera_object").count == 1);

  // Never ended (Frigate restarted): sent and counted after the timeout, re-sent when it changes.
  ingest_frigate(*this, *frigate, local_10h + 10 * minute, "new", "b-2", R"(,"top_score":0.7)");
  CHECK(out.feed_events(100, local_10h + 15 * minute).queued == 0);
  CHECK(out.feed_events(100, local_10h + 20 * minute).queued == 1);
  CHECK(pass.fold(1000, {.now_ms = local_10h + 20 * minute}).events == 1);
  ingest_frigate(*this, *frigate, local_10h + 21 * minute, "update", "b-2", R"(,"top_score":0.9)");
  CHECK(out.feed_events(100, local_10h + 22 * minute).queued == 1);
  CHECK(pass.fold(1000, {.now_ms = local_10h + 22 * minute}).events == 0);
  const auto all = outbox_bodies(sql(), uplink_stream::events);
  REQUIRE(all.size() == 3);
  CHECK(all[1].find(R"("incident":"object:b-2","revision":1,"closed":false)") != std::string::npos);
  CHECK(all[2].find(R"("incident":"object:b-2","revision":2,"closed":false)") != std::string::npos);
  CHECK(stats_of(sql(), "frigate/gate", 3600, local_10h, "event:camera_object").count == 2);
}
