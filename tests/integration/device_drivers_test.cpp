// The device drivers end to end: every fixture of tests/data/<driver>/ is
// published through a real mosquitto into the real communegw binary, and the
// store must then hold exactly what the fixture expectations say: the
// readings, the latest availability per device, and one quarantine row per
// rejected message or field, by reason.
#include <doctest/doctest.h>

#include <cmath>
#include <map>

#include <fmt/format.h>

#include "tests/support/fixture_files.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/sparkplug_payload.hpp"

using namespace communegw::test;
using namespace std::chrono_literals;

namespace {

std::string sql_text(std::string_view text) {
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

struct probe {
  std::string topic;      // an availability topic of the driver
  std::string device;     // the device id it names
  std::string online, offline;
};

// Starts broker and gateway, waits until the gateway listens (the probe's
// availability shows up), publishes every fixture, waits until a final probe
// report is stored (messages are handled in order), then checks the store.
// `encode`: a binary format's fixture text to the bytes published (Sparkplug B).
void run_fixtures_through_gateway(const std::string& driver_name, const std::string& driver_config, const probe& ready,
                                  const std::function<void(publisher&)>& before_gateway = {},
                                  const std::function<void(const std::filesystem::path&)>& extra_checks = {},
                                  const std::function<std::string(std::string_view)>& encode = {}) {
  temp_dir dir;
  mosquitto_broker broker(dir / "broker");
  publisher pub(broker.uri());
  if (before_gateway) before_gateway(pub);
  const auto db = dir / "gw" / "store.db";
  gateway_process gateway(dir / "gw", gateway_process::default_config(broker.uri(), db, "max_uncommitted = 0\n" + driver_config));
  REQUIRE(wait_for([&] { return store_count(db, "SELECT count(*) FROM boots") == 1; }, 20s));
  const auto availability_is = [&](const std::string& device, const std::string& state) {
    return store_count(db, "SELECT count(*) FROM devices WHERE name = " + sql_text(device) +
                               " AND availability = " + sql_text(state)) == 1;
  };
  REQUIRE(wait_for([&] {
    pub.publish(ready.topic, ready.online);
    return availability_is(ready.device, "online");
  }, 20s));

  std::map<std::string, std::int64_t> rejections_by_reason;
  std::map<std::string, std::string> last_availability;
  struct expected_reading {
    std::string device, metric;
    double value;
  };
  std::vector<expected_reading> readings;
  int published = 0;
  for (const auto& fixture : load_driver_fixtures(COMMUNEGW_SOURCE_DIR, driver_name)) {
    // A topic with control characters never gets past mosquitto (it drops
    // such a publisher): the unit tests cover those fixtures.
    if (std::any_of(fixture.topic.begin(), fixture.topic.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; })) continue;
    CAPTURE(fixture.name);
    REQUIRE(pub.publish(fixture.topic, encode ? encode(fixture.payload) : fixture.payload));
    ++published;
    std::string device;
    for (const auto& line : fixture.expected) {
      const auto space = line.find(' ');
      const auto word = line.substr(0, space);
      const auto rest = space == std::string::npos ? std::string() : line.substr(space + 1);
      if (word == "device") device = rest;
      else if (word == "availability") last_availability[device] = rest;
      else if (word == "rejected" || word == "field") rejections_by_reason[rest.substr(0, rest.find(' '))]++;
      else if (word == "reading") {
        const auto metric_end = rest.find(' ');
        readings.push_back({device, rest.substr(0, metric_end), std::stod(rest.substr(metric_end + 1))});
      }
    }
  }
  CHECK(published > 20);
  REQUIRE(wait_for([&] {
    pub.publish(ready.topic, ready.offline);
    return availability_is(ready.device, "offline");
  }, 20s));

  for (const auto& [reason, count] : rejections_by_reason) {
    CAPTURE(reason);
    CHECK(store_count(db, "SELECT count(*) FROM quarantine WHERE reason = " + sql_text(reason)) == count);
  }
  for (const auto& [device, state] : last_availability) {
    CAPTURE(device);
    CHECK(availability_is(device, state));
  }
  for (const auto& r : readings) {
    CAPTURE(r.device);
    CAPTURE(r.metric);
    CHECK(store_count(db, fmt::format("SELECT count(*) FROM readings WHERE device = {} AND metric = {} AND "
                                      "abs(value - ({})) <= 1e-4 * max(1, abs({}))",
                                      sql_text(r.device), sql_text(r.metric), r.value, r.value)) >= 1);
  }
  if (extra_checks) extra_checks(db);
  CHECK(gateway.running());
  CHECK(gateway.terminate(10s) == 0);
}

}  // namespace

TEST_CASE("zigbee2mqtt fixtures through a real broker end up in the store as expected") {
  run_fixtures_through_gateway("zigbee2mqtt",
                               "[driver.zigbee2mqtt]\nenabled = true\ntopics = [\"zigbee2mqtt/#\", \"z2m_v1/#\"]\n",
                               {"zigbee2mqtt/probe/availability", "zigbee2mqtt/probe", "{\"state\":\"online\"}",
                                "{\"state\":\"offline\"}"});
}

TEST_CASE("tasmota fixtures through a real broker end up in the store - a retained last will is marked as such") {
  run_fixtures_through_gateway(
      "tasmota",
      // Broader than the default on purpose: the stat/ and extra-level fixtures must reach the driver.
      "[driver.tasmota]\nenabled = true\ntopics = [\"tele/#\", \"stat/#\"]\n",
      {"tele/probe/LWT", "tasmota/probe", "Online", "Offline"},
      [](publisher& pub) { REQUIRE(pub.publish_retained("tele/old-plug/LWT", "Online")); },
      [](const std::filesystem::path& db) {
        // Heard only from the broker's retained copy: it may be stale.
        CHECK(store_count(db, "SELECT count(*) FROM devices WHERE name = 'tasmota/old-plug' AND availability = 'online' "
                              "AND availability_retained = 1") == 1);
        CHECK(store_count(db, "SELECT count(*) FROM devices WHERE name = 'tasmota/probe' AND availability_retained = 0") == 1);
      });
}

TEST_CASE("esphome fixtures through a real broker end up in the store as expected") {
  run_fixtures_through_gateway("esphome",
                               "[driver.esphome]\nenabled = true\n"
                               "topics = [\"+/sensor/+/state\", \"+/+/sensor/+/state\", \"+/binary_sensor/+/state\", "
                               "\"+/switch/+/state\", \"+/light/+/state\", \"+/status\", \"homeassistant/#\"]\n"
                               "sensors = [\"soil_probe = soil_moisture %\", \"bom_nuoc = switch_on\", "
                               "\"water_temp = temperature\", \"den_sang = lamp_on\"]\n",
                               {"probe/status", "esphome/probe", "online", "offline"});
}

TEST_CASE("frigate fixtures through a real broker - new, update, update, end of one object are one event row with the final state") {
  run_fixtures_through_gateway(
      "frigate", "[driver.frigate]\nenabled = true\ntopics = [\"frigate/#\", \"probe-nvr/#\"]\n",
      {"probe-nvr/available", "probe-nvr", "online", "offline"}, {},
      [](const std::filesystem::path& db) {
        // Fixtures 02-05: new, update, update, end of tracked object 1795431890.123456-ab12cd.
        const std::string incident = "incident = 'object:1795431890.123456-ab12cd'";
        CHECK(store_count(db, "SELECT count(*) FROM events WHERE " + incident) == 1);
        CHECK(store_count(db, "SELECT end_ms FROM events WHERE " + incident) == 1795431950400);
        CHECK(store_count(db, "SELECT start_ms FROM events WHERE " + incident) == 1795431890120);
        CHECK(store_count(db, "SELECT closed FROM events WHERE " + incident) == 1);
        CHECK(store_count(db, "SELECT revision FROM events WHERE " + incident) == 4);
        CHECK(store_count(db, "SELECT json_extract(attributes, '$.score') = 0.93 FROM events WHERE " + incident) == 1);
        CHECK(store_count(db, "SELECT json_extract(attributes, '$.zones') = '[\"san_truong\",\"cong_chinh\"]' FROM events WHERE " +
                                  incident) == 1);
        // Four tracked objects, one alert (new and end: one row), one snapshot; the
        // false positive and the detection review are no events.
        CHECK(store_count(db, "SELECT count(*) FROM events") == 6);
        CHECK(store_count(db, "SELECT count(*) FROM events WHERE kind = 'camera_alert' AND closed = 1 AND revision = 2") == 1);
        // The snapshot is a size and a reference: no image bytes anywhere in the store.
        CHECK(store_count(db, "SELECT json_extract(attributes, '$.bytes') FROM events WHERE kind = 'camera_snapshot'") == 222);
        CHECK(store_count(db, "SELECT count(*) FROM quarantine WHERE instr(payload, CAST(X'FFD8FFE0' AS BLOB)) > 0") == 0);
        // Refused images (truncated, not a JPEG) are quarantined by topic and size, without their bytes.
        CHECK(store_count(db, "SELECT count(*) FROM quarantine WHERE reason IN ('truncated', 'wrong_type') AND "
                              "topic LIKE '%/snapshot' AND length(payload) = 0 AND payload_size > 0") == 2);
      });
}

TEST_CASE("epever fixtures through a real broker - one DATA message stores each controller as its own device") {
  run_fixtures_through_gateway(
      "epever", "[driver.epever]\nenabled = true\ntopics = [\"EPEver/#\", \"solar-xa/#\", \"probe-bridge/#\"]\n",
      {"probe-bridge/Alive", "probe-bridge", "true", "false"}, {},
      [](const std::filesystem::path& db) {
        CHECK(store_count(db, "SELECT count(*) FROM events e JOIN devices d ON d.id = e.device WHERE d.name = 'EPEver/EP_2' "
                              "AND e.kind = 'lamp_fault' AND json_extract(e.attributes, '$.code') = 'battery_low_voltage_disconnect'") == 1);
        CHECK(store_count(db, "SELECT count(*) FROM events e JOIN devices d ON d.id = e.device WHERE d.name = 'EPEver/EP_2' "
                              "AND e.kind = 'lamp_fault_cleared'") == 1);
        CHECK(store_count(db, "SELECT count(*) FROM devices WHERE name = 'EPEver/EP_4' AND availability = 'offline' AND kind = 'streetlight'") == 1);
        CHECK(store_count(db, "SELECT count(*) FROM readings WHERE device = 'EPEver/EP_4'") == 0);
        CHECK(store_count(db, "SELECT count(*) FROM devices WHERE name = 'EPEver' AND kind = 'gateway'") == 1);
      });
}

// The drivers below report no availability of their own: an ESPHome status
// topic is the readiness and "all handled" probe (messages are handled in order).
namespace {

const probe esphome_probe{"probe/status", "esphome/probe", "online", "offline"};
const std::string esphome_probe_config = "[driver.esphome]\nenabled = true\ntopics = [\"probe/status\"]\n";

}  // namespace

TEST_CASE("chirpstack fixtures through a real broker end up in the store - one frame heard twice is stored once") {
  run_fixtures_through_gateway(
      "chirpstack", fixture_driver_config(COMMUNEGW_SOURCE_DIR, "chirpstack") + esphome_probe_config, esphome_probe, {},
      [](const std::filesystem::path& db) {
        // 01 and 16 are one frame (fCnt 1042) with different gateway metadata.
        CHECK(store_count(db, "SELECT count(*) FROM readings WHERE device = 'chirpstack/24e124128c147204' AND seq = 1042 "
                              "AND metric = 'temperature'") == 1);
        // The status event's battery and margin, the streetlight kind from the config.
        CHECK(store_count(db, "SELECT count(*) FROM readings WHERE device = 'chirpstack/24e124128c147204' AND "
                              "device_kind = 'streetlight' AND metric = 'link_margin'") >= 2);
      });
}

TEST_CASE("things_stack fixtures through a real broker end up in the store - one frame heard twice is stored once") {
  run_fixtures_through_gateway(
      "things_stack", fixture_driver_config(COMMUNEGW_SOURCE_DIR, "things_stack") + esphome_probe_config, esphome_probe, {},
      [](const std::filesystem::path& db) {
        CHECK(store_count(db, "SELECT count(*) FROM readings WHERE device = 'tts/moi-truong-xa@ttn/aq-cho' AND seq = 58 "
                              "AND metric = 'humidity'") == 1);
        // A console-simulated uplink (07) stores nothing: no temperature of 99.
        CHECK(store_count(db, "SELECT count(*) FROM readings WHERE metric = 'temperature' AND value = 99") == 0);
      });
}

TEST_CASE("json_mapping fixtures through a real broker end up in the store - a 1970 device clock is flagged") {
  run_fixtures_through_gateway(
      "json_mapping", fixture_driver_config(COMMUNEGW_SOURCE_DIR, "json_mapping") + esphome_probe_config, esphome_probe, {},
      [](const std::filesystem::path& db) {
        // flags bit 2: device time suspect (fixture 09 sends ts = 133 s).
        CHECK(store_count(db, "SELECT count(*) FROM messages m JOIN devices d ON d.id = m.device WHERE d.name = "
                              "'json/tram-xa' AND m.seq = 7 AND m.device_ms = 133000 AND (m.flags & 2) = 2") == 1);
        CHECK(store_count(db, "SELECT count(*) FROM messages m JOIN devices d ON d.id = m.device WHERE d.name = "
                              "'json/tram-xa' AND m.seq = 101 AND (m.flags & 2) = 0") == 1);
        CHECK(store_count(db, "SELECT count(*) FROM devices WHERE name = 'light/den-07' AND kind = 'streetlight'") == 1);
      });
}

TEST_CASE("sparkplug fixtures through a real broker - births, data by alias, a seq gap, deaths, then the store") {
  run_fixtures_through_gateway(
      "sparkplug", fixture_driver_config(COMMUNEGW_SOURCE_DIR, "sparkplug") + esphome_probe_config, esphome_probe, {},
      [](const std::filesystem::path& db) {
        const std::string node = "'sparkplug/xa-an-binh/tram-1'";
        // 14 is 13 delivered again (the same bytes): stored once.
        CHECK(store_count(db, "SELECT count(*) FROM readings WHERE device = 'sparkplug/xa-an-binh/tram-2' AND "
                              "metric = 'pm2_5' AND value = 37") == 1);
        // Two seq gaps (09 on NDATA, 10 on a device's DDATA), both the edge node's.
        CHECK(store_count(db, "SELECT count(*) FROM events e JOIN devices d ON d.id = e.device WHERE d.name = " + node +
                                  " AND e.kind = 'sparkplug_rebirth_needed' AND e.severity = 1") == 2);
        CHECK(store_count(db, "SELECT json_extract(e.attributes, '$.missed') FROM events e JOIN devices d ON d.id = "
                              "e.device WHERE d.name = " + node + " AND json_extract(e.attributes, '$.received') = 9") == 2);
        // 08: two historical samples and the current one, each with its own device time.
        CHECK(store_count(db, "SELECT count(DISTINCT device_ms) FROM readings WHERE device = " + node +
                                  " AND metric = 'temperature' AND device_ms BETWEEN 1795403400000 AND 1795404000000") == 3);
        // h13: a node clock in 1970 is stored and flagged (flags bit 2).
        CHECK(store_count(db, "SELECT count(*) FROM messages m JOIN devices d ON d.id = m.device WHERE d.name = " + node +
                                  " AND m.device_ms = 5000 AND (m.flags & 2) = 2") == 1);
        // The stale NDEATH (17) changed nothing, the current one (19) took the soil station offline
        // with the node, and the node's rebirth (22) brought it back alone.
        CHECK(store_count(db, "SELECT count(*) FROM devices WHERE name = " + node + " AND availability = 'online'") == 1);
        CHECK(store_count(db, "SELECT count(*) FROM devices WHERE name = 'sparkplug/xa-an-binh/tram-1/cam-bien-dat' "
                              "AND availability = 'offline'") == 1);
        CHECK(store_count(db, "SELECT count(*) FROM devices WHERE name = 'sparkplug-host/scada-huyen' AND "
                              "availability = 'offline' AND kind = 'gateway'") == 1);
      },
      &encode_sparkplug_fixture);
}
