// End to end through a real mosquitto and the real communegw binary.
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <fmt/format.h>

#include <csignal>
#include <ctime>

#include "tests/support/harness.hpp"

using namespace communegw::test;
using namespace std::chrono_literals;

TEST_CASE("messages travel broker -> gateway -> store with their content - hostile input is quarantined, not fatal") {
  temp_dir dir;
  mosquitto_broker broker(dir / "broker");
  const auto db = dir / "gw" / "store.db";
  gateway_process gateway(dir / "gw", gateway_process::default_config(broker.uri(), db, "max_uncommitted = 0\n"));
  REQUIRE(wait_for([&] { return store_count(db, "SELECT count(*) FROM boots") == 1; }, 20s));

  publisher pub(broker.uri());
  // The gateway subscribes after connecting; publish only once it is listening.
  int probe_seq = 0;
  REQUIRE(wait_for([&] {
    pub.publish("commune/c/env/probe/telemetry", "{\"seq\":" + std::to_string(++probe_seq) + ",\"pm2_5\":1}");
    return store_count(db, "SELECT count(*) FROM messages") >= 1;
  }, 20s));

  REQUIRE(pub.publish("commune/c/env/env-01/telemetry",
                      R"({"seq":10,"ts":"2026-11-23T18:05:00+07:00","pm2_5":35.5,"pm10":52,"temperature":27.25,"humidity":81})"));
  REQUIRE(pub.publish("commune/c/streetlight/sl-0042/status",
                      R"({"seq":3,"lamp_on":true,"dim_level":70,"battery_voltage":12.8,"faults":["lamp_short_circuit"]})"));
  REQUIRE(pub.publish("commune/c/camera/cam-3/event", R"({"seq":1,"event":"tamper","zone":"cầu"})"));
  // Redelivery of the same message must not duplicate it.
  REQUIRE(pub.publish("commune/c/env/env-01/telemetry",
                      R"({"seq":10,"ts":"2026-11-23T18:05:00+07:00","pm2_5":35.5,"pm10":52,"temperature":27.25,"humidity":81})"));
  // Hostile input.
  REQUIRE(pub.publish("commune/c/env/env-01/telemetry", "{\"pm2_5\": 12"));
  REQUIRE(pub.publish("commune/c/env/env-01/telemetry", std::string("\x00\xff\xfe\x01\x02", 5)));
  REQUIRE(pub.publish("commune/c/env/env-01/telemetry", std::string(70 * 1024, 'x')));  // over the 64KiB default
  REQUIRE(pub.publish("commune/c/tractor/t-1/status", "{}"));
  REQUIRE(pub.publish("commune/c/env/env-02/telemetry", R"({"seq":1,"pm2_5":-5,"pm10":1e9,"humidity":"wet","temperature":30})"));

  REQUIRE(wait_for([&] {
    const auto c = store_counters(db);
    return c.count("rejected.wrong_type") && c.count("rejected.unknown_topic") && c.count("rejected.oversized_payload") &&
           c.count("duplicate_messages") && c.count("rejected.binary_payload") && c.count("rejected.malformed_json");
  }, 20s));
  const auto counters = store_counters(db);
  const auto probes = store_count(db, "SELECT count(*) FROM readings WHERE device = 'probe'");
  CHECK(counters.at("stored_messages") == 4 + probes);  // env-01, sl-0042, cam-3, env-02 (temperature only)
  CHECK(counters.at("duplicate_messages") == 1);
  CHECK(counters.at("rejected.malformed_json") == 1);
  CHECK(counters.at("rejected.binary_payload") == 1);
  CHECK(counters.at("rejected.oversized_payload") == 1);
  CHECK(counters.at("rejected.unknown_topic") == 1);
  CHECK(counters.at("rejected.out_of_range") == 2);
  CHECK(counters.at("rejected.wrong_type") == 1);

  CHECK(store_count(db, "SELECT count(*) FROM readings WHERE device = 'env-01' AND metric = 'pm2_5' AND value = 35.5 "
                        "AND device_ms = 1795431900000 AND seq = 10") == 1);
  CHECK(store_count(db, "SELECT count(*) FROM readings WHERE device = 'sl-0042' AND metric = 'lamp_on' AND value = 1") == 1);
  CHECK(store_count(db, "SELECT count(*) FROM readings WHERE device = 'env-02'") == 1);
  CHECK(store_count(db, "SELECT count(*) FROM events WHERE kind = 'lamp_fault' AND severity = 2") == 1);
  CHECK(store_count(db, "SELECT count(*) FROM events WHERE kind = 'tamper' AND attributes = '{\"zone\":\"cầu\"}'") == 1);
  CHECK(store_count(db, "SELECT count(*) FROM quarantine WHERE reason = 'oversized_payload' AND payload_size = 71680 "
                        "AND length(payload) = 256") == 1);
  CHECK(gateway.running());

  // The CLI reads the live store.
  const auto json = run_communegw({"--config", gateway.config_path().string(), "query", "readings", "--device", "env-01",
                                   "--metric", "pm2_5", "--format", "json"},
                                  dir.path());
  CHECK(json.status == 0);
  CHECK(json.output.find("\"value\": 35.5") != std::string::npos);
  CHECK(json.output.find("\"device_time\": \"2026-11-23T11:05:00.000Z\"") != std::string::npos);
  const auto query = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", gateway.config_path().string(), "query"});
    return run_communegw(args, dir.path());
  };
  // Time ranges select by receive time: an hour back holds it, a window ending in 2000 does not.
  const auto recent = query({"readings", "--device", "env-01", "--since", "1h", "--format", "csv"});
  CHECK(recent.status == 0);
  CHECK(recent.output.find("env-01,pm2_5,35.5") != std::string::npos);
  const auto old = query({"readings", "--device", "env-01", "--until", "2000-01-01T00:00:00Z", "--format", "csv"});
  CHECK(old.status == 0);
  CHECK(old.output.find("env-01") == std::string::npos);
  CHECK(query({"readings", "--since", "yesterday"}).status != 0);  // neither RFC 3339 nor a duration
  // Events, as the table an operator reads.
  const auto events = query({"events", "--format", "table"});
  CHECK(events.status == 0);
  CHECK(events.output.find("kind") != std::string::npos);
  CHECK(events.output.find("tamper") != std::string::npos);
  CHECK(events.output.find("lamp_fault") != std::string::npos);
  CHECK(query({"events", "--metric", "tamper", "--format", "csv"}).output.find("lamp_fault") == std::string::npos);
  const auto csv = run_communegw({"--config", gateway.config_path().string(), "query", "rejections", "--format", "csv"}, dir.path());
  CHECK(csv.output.rfind("id,received,reason,detail,topic,payload_size,payload\r\n", 0) == 0);
  CHECK(csv.output.find("oversized_payload") != std::string::npos);
  // Rejections by device: a whole level of the topic, taken literally.
  REQUIRE(pub.publish("commune/c/tractor/x1y/status", "{}"));
  REQUIRE(wait_for([&] { return store_count(db, "SELECT count(*) FROM quarantine WHERE topic LIKE '%/x1y/%'") == 1; },
                   20s));
  const auto rejections_of = [&](const std::string& device) {
    return run_communegw({"--config", gateway.config_path().string(), "query", "rejections", "--device", device,
                          "--format", "csv"},
                         dir.path())
        .output;
  };
  const auto env_01 = rejections_of("env-01");
  CHECK(env_01.find("malformed_json") != std::string::npos);
  CHECK(env_01.find("binary_payload") != std::string::npos);
  CHECK(env_01.find("unknown_topic") == std::string::npos);
  CHECK(rejections_of("x1y").find("tractor/x1y") != std::string::npos);
  CHECK(rejections_of("x_y").find("tractor/x1y") == std::string::npos);  // '_' is no wildcard
  CHECK(rejections_of("x1").find("tractor/x1y") == std::string::npos);   // nor is part of a level a match

  // SIGTERM: clean stop, exit 0.
  CHECK(gateway.terminate(15s) == 0);
}

TEST_CASE("a retained state the broker sends again on every connect is stored once - a restart or a crash adds no row") {
  temp_dir dir;
  mosquitto_broker broker(dir / "broker");
  publisher pub(broker.uri());
  // No sequence number, no time: as an ESPHome or Tasmota state, only the bytes identify it.
  const std::string topic = "commune/c/env/env-r/telemetry";
  REQUIRE(pub.publish_retained(topic, R"({"pm2_5":5})"));
  const auto db = dir / "gw" / "store.db";
  gateway_process gateway(dir / "gw", gateway_process::default_config(broker.uri(), db, "max_uncommitted = 0\n"));
  const auto rows = [&] { return store_count(db, "SELECT count(*) FROM readings WHERE device = 'env-r'"); };
  // The first subscribe: the broker's retained copy is all the gateway knows, kept and marked.
  REQUIRE(wait_for([&] { return rows() == 1; }, 20s));
  CHECK(store_count(db, "SELECT count(*) FROM messages WHERE flags & 16") == 1);

  // Probes go out once this start of the gateway has subscribed: the broker
  // then sends its retained copy first (a probe queued in the session while
  // the gateway was away would come before it).
  const auto probe_until_stored = [&](int seq) {
    const auto subscribed = [&] {
      const auto log = gateway.log();
      int n = 0;
      for (auto at = log.find("mqtt: subscribed"); at != std::string::npos; at = log.find("mqtt: subscribed", at + 1)) ++n;
      return n;
    };
    if (!wait_for([&] { return subscribed() == seq + 1; }, 20s)) return false;
    return wait_for([&] {
      pub.publish("commune/c/env/probe/telemetry", "{\"seq\":" + std::to_string(seq) + ",\"pm2_5\":1}");
      return store_count(db, "SELECT count(*) FROM messages WHERE seq = " + std::to_string(seq)) == 1;
    }, 20s);
  };
  // A clean restart, then a crash: each new subscribe brings the retained copy again.
  REQUIRE(gateway.terminate(10s) == 0);
  gateway.start();
  REQUIRE(probe_until_stored(1));
  gateway.kill_hard();
  gateway.start();
  REQUIRE(probe_until_stored(2));
  CHECK(rows() == 1);

  // The device changes its state (live, with retain): a new reading; the copy
  // the broker then sends on the next connect is that same state again.
  REQUIRE(pub.publish_retained(topic, R"({"pm2_5":6})"));
  REQUIRE(wait_for([&] { return rows() == 2; }, 20s));
  REQUIRE(gateway.terminate(10s) == 0);
  // Counted as retained repeats (a copy the broker had in flight when the
  // gateway was killed may come back flagged DUP instead: a duplicate).
  const auto repeats = [&] { return store_count(db, "SELECT coalesce((SELECT value FROM counters WHERE name = 'retained_repeats'), 0)"); };
  const auto repeats_before = repeats();
  CHECK(repeats_before >= 1);
  gateway.start();
  REQUIRE(probe_until_stored(3));
  CHECK(rows() == 2);
  CHECK(gateway.terminate(10s) == 0);
  CHECK(repeats() == repeats_before + 1);

  // Last heard from: the live message, not the broker's later retained copies.
  const auto live_ms = store_count(db, "SELECT recv_ms FROM messages WHERE readings = '{\"pm2_5\":6}'");
  CHECK(store_count(db, "SELECT last_seen_ms FROM devices WHERE name = 'env-r'") == live_ms);
  const auto devices = run_communegw({"--config", gateway.config_path().string(), "query", "devices", "--format", "csv"}, dir.path());
  CHECK(devices.status == 0);
  const auto row = devices.output.find("\nenv-r,");
  REQUIRE(row != std::string::npos);
  INFO(devices.output);
  char when[32];
  const std::time_t seconds = live_ms / 1000;
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", std::gmtime(&seconds));
  const auto expected = std::string(when) + fmt::format(".{:03}Z", live_ms % 1000);
  CHECK(devices.output.find(expected, row) < devices.output.find('\n', row + 1));
}

TEST_CASE("records carry the clock's trust: clock.trust = never marks them untrusted, always trusted") {
  for (const std::string trust : {"never", "always"}) {
    CAPTURE(trust);
    temp_dir dir;
    mosquitto_broker broker(dir / "broker");
    const auto db = dir / "gw" / "store.db";
    gateway_process gateway(dir / "gw",
                            gateway_process::default_config(broker.uri(), db, "[clock]\ntrust = \"" + trust + "\"\n"));
    publisher pub(broker.uri());
    REQUIRE(wait_for(
        [&] {
          pub.publish("commune/c/env/env-9/telemetry", R"({"pm2_5":4})");
          return store_count(db, "SELECT count(*) FROM readings WHERE device = 'env-9'") >= 1;
        },
        20s));
    const auto trusted = trust == "always" ? 1 : 0;
    CHECK(store_count(db, "SELECT count(*) FROM readings WHERE device = 'env-9' AND time_trusted <> " +
                              std::to_string(trusted)) == 0);
    CHECK((gateway.log().find("clock: the wall clock is not synchronised") != std::string::npos) == (trusted == 0));
    CHECK(gateway.terminate(10s) == 0);
  }
}

TEST_CASE("communegw check reports broker, store, disk and clock, and fails when the broker is down") {
  temp_dir dir;
  mosquitto_broker broker(dir / "broker");
  const auto db = dir / "gw" / "store.db";
  std::filesystem::create_directories(dir / "gw");
  write_file(dir / "gw" / "gw.toml", gateway_process::default_config(broker.uri(), db, "[clock]\ntrust = \"always\"\n"));
  const auto config_path = (dir / "gw" / "gw.toml").string();
  auto ok = run_communegw({"--config", config_path, "check"}, dir.path());
  CHECK(ok.output.find("ok    config  " + config_path) != std::string::npos);
  CHECK(ok.output.find("ok    broker") != std::string::npos);
  // A fresh install before its first start: nothing is wrong.
  CHECK(ok.output.find("ok    store   " + db.string() + " will be created at the first start") != std::string::npos);
  CHECK(ok.output.find("ok    disk    ") != std::string::npos);
  CHECK(ok.output.find("MiB free on") != std::string::npos);
  CHECK(ok.output.find("ok    clock") != std::string::npos);
  CHECK(ok.status == 0);

  // The state directory does not exist before the first start either: the
  // disk line reads the nearest directory that does.
  write_file(config_path, gateway_process::default_config(broker.uri(), dir / "gw" / "state" / "sub" / "store.db",
                                                          "[clock]\ntrust = \"always\"\n"));
  auto no_state_dir = run_communegw({"--config", config_path, "check"}, dir.path());
  CHECK(no_state_dir.output.find("ok    disk    ") != std::string::npos);
  CHECK(no_state_dir.output.find("free on " + (dir / "gw").string() + " ") != std::string::npos);
  CHECK(no_state_dir.status == 0);

  // The default client id can be guessed by any device account: a warning.
  write_file(config_path, "[gateway]\nid = \"gw-test\"\nprovince = \"p\"\ncommune = \"c\"\n[mqtt]\nuri = \"" + broker.uri() +
                              "\"\n[store]\npath = \"" + db.string() + "\"\n[clock]\ntrust = \"always\"\n");
  auto guessable = run_communegw({"--config", config_path, "check"}, dir.path());
  CHECK(guessable.output.find("warn  broker  the gateway's MQTT client id \"communegw-gw-test\" can be guessed") !=
        std::string::npos);
  CHECK(guessable.status == 1);

  // A clock that is not to be trusted is a warning; a damaged store a failure.
  write_file(config_path, gateway_process::default_config(broker.uri(), db, "[clock]\ntrust = \"never\"\n"));
  write_file(db, std::string(8192, '\x5a'));
  auto damaged = run_communegw({"--config", config_path, "check"}, dir.path());
  CHECK(damaged.output.find("warn  clock") != std::string::npos);
  CHECK(damaged.output.find("not trusted because clock.trust = \"never\"") != std::string::npos);
  CHECK(damaged.output.find("fail  store") != std::string::npos);
  CHECK(damaged.output.find("will move it aside") != std::string::npos);
  CHECK(damaged.status == 2);
  std::filesystem::remove(db);

  broker.stop();
  auto down = run_communegw({"--config", config_path, "check"}, dir.path());
  CHECK(down.output.find("fail  broker") != std::string::npos);
  CHECK(down.status == 2);

  // A configuration that does not load is the check's one failing line, with file:line: key: message.
  write_file(config_path, "[gateway]\nid = \"gw\"\nprovince = \"p\"\ncommune = \"c\"\n[store]\nmax_size = \"lots\"\n");
  auto unloadable = run_communegw({"--config", config_path, "check"}, dir.path());
  CHECK(unloadable.output.rfind("fail  config  " + config_path + ":6: store.max_size: ", 0) == 0);
  CHECK(unloadable.status == 2);
}

TEST_CASE("a bad config stops start-up with file:line: key: message and a non-zero exit") {
  temp_dir dir;
  write_file(dir / "gw.toml", "[gateway]\nid = \"g\"\nprovince = \"p\"\ncommune = \"c\"\n[store]\nmax_size = \"huge\"\n");
  const auto result = run_communegw({"--config", (dir / "gw.toml").string(), "run"}, dir.path());
  CHECK(result.status == 2);
  CHECK(result.output.find((dir / "gw.toml").string() + ":6: store.max_size: \"huge\" is not a size") != std::string::npos);
}

namespace {

// Reads a number out of a JSON text (SQLite's JSON functions, in memory).
std::int64_t json_number(const std::string& json, const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open(":memory:", &db);
  sqlite3_stmt* stmt = nullptr;
  std::int64_t value = -1;
  if (sqlite3_prepare_v2(db, "SELECT coalesce(json_extract(?, ?), 0)", -1, &stmt, nullptr) == SQLITE_OK) {
    sqlite3_bind_text(stmt, 1, json.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 2, path.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(stmt) == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

}  // namespace

TEST_CASE("the commune simulator's traffic, hostile messages included, ends up exactly as the simulator predicts") {
  temp_dir dir;
  mosquitto_broker broker(dir / "broker", "message_size_limit 0\n");
  const auto db = dir / "gw" / "store.db";
  gateway_process gateway(dir / "gw", gateway_process::default_config(broker.uri(), db));
  REQUIRE(wait_for([&] { return gateway.log().find("subscribed") != std::string::npos; }, 20s));

  child_process sim(target_command({COMMUNEGW_SIM_PATH, "--broker", broker.uri(), "--commune", "xa-test", "--streetlights",
                                    "30", "--env-stations", "15", "--cameras", "5", "--count", "3000", "--rate", "1000",
                                    "--malformed-ratio", "0.1", "--time-scale", "600", "--seed", "7", "--quiet",
                                    "--summary-json", (dir / "sim.json").string()}),
                    dir / "sim.log");
  REQUIRE(sim.wait(120s) == 0);
  const auto summary = read_file(dir / "sim.json");
  REQUIRE(json_number(summary, "$.acknowledged") == 3000);
  const auto expected_stored = json_number(summary, "$.expected_at_gateway.stored_messages");
  CHECK(json_number(summary, "$.hostile_total") > 100);
  REQUIRE(wait_for([&] {
    const auto c = store_counters(db);
    return c.count("stored_messages") && c.at("stored_messages") >= expected_stored;
  }, 60s));
  const auto counters = store_counters(db);
  CHECK(counters.at("stored_messages") == expected_stored);
  for (const auto* reason : {"oversized_payload", "binary_payload", "malformed_json", "unknown_topic", "missing_field",
                             "wrong_type", "out_of_range", "bad_timestamp", "unknown_value"}) {
    CAPTURE(reason);
    const auto want = json_number(summary, std::string("$.expected_rejected_by_reason.") + reason);
    const auto it = counters.find(std::string("rejected.") + reason);
    CHECK((it == counters.end() ? 0 : it->second) == want);
  }
  CHECK(gateway.terminate(15s) == 0);
}

TEST_CASE("a client that takes over the gateway's session is said so in the log - the gateway gets its session back") {
  temp_dir dir;
  mosquitto_broker broker(dir / "broker");
  const auto db = dir / "gw" / "store.db";
  gateway_process gateway(dir / "gw", gateway_process::default_config(broker.uri(), db));
  REQUIRE(wait_for([&] { return gateway.log().find("mqtt: subscribed") != std::string::npos; }, 30s));
  auto connects = [&] {
    const auto log = gateway.log();
    std::size_t count = 0;
    for (auto at = log.find("mqtt: connected"); at != std::string::npos; at = log.find("mqtt: connected", at + 1)) ++count;
    return count;
  };
  // A device that knows the gateway's client id connects with it three times.
  for (int i = 0; i < 3; ++i) {
    const auto before = connects();
    { publisher intruder(broker.uri(), "communegw-gw-test-5f3a91c2e07b"); }
    REQUIRE(wait_for([&] { return connects() > before; }, 30s));  // the gateway is back
  }
  REQUIRE(wait_for([&] { return gateway.log().find("taking the session over") != std::string::npos; }, 10s));
  CHECK(gateway.log().find("client id \"communegw-gw-test-5f3a91c2e07b\"") != std::string::npos);
  // And it still ingests.
  publisher device(broker.uri());
  REQUIRE(wait_for([&] {
    device.publish("commune/c/env/e-9/telemetry", R"({"seq":1,"pm2_5":9})");
    return store_count(db, "SELECT count(*) FROM readings WHERE device = 'e-9'") == 1;
  }, 30s));
  CHECK(gateway.terminate(10s) == 0);
}
