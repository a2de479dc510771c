// The device registry end to end: an installer's CSV imported with the real
// binary, the config's [[device]] tables, a real broker and `communegw run`.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include "tests/support/harness.hpp"

using namespace communegw;
using namespace communegw::test;
using namespace std::chrono_literals;

TEST_CASE("registered devices: a relay registered as a streetlight reports lamp_on, availability changes are history, "
          "query devices shows the registry") {
  temp_dir dir;
  mosquitto_broker broker(dir / "broker");
  const auto db = dir / "gw" / "store.db";
  std::filesystem::create_directories(dir / "gw");
  const auto config = gateway_process::default_config(
      broker.uri(), db,
      "[[device]]\nid = \"tasmota/den-cong\"\nkind = \"streetlight\"\nname = \"Đèn cổng làng\"\nvillage = \"Thôn 3\"\n"
      "road_length_m = 35\n"
      "[driver.tasmota]\nenabled = true\n");
  write_file(dir / "gw" / "gw.toml", config);
  const auto config_path = (dir / "gw" / "gw.toml").string();

  // A spreadsheet with a mistake is refused whole, every bad row named.
  write_file(dir / "bad.csv", "id,kind,road_length_m\ntasmota/den-08,streetlight,35\ntasmota/x,lamp,\ntasmota/y,camera,far\n");
  const auto refused = run_communegw({"--config", config_path, "device", "import", (dir / "bad.csv").string()}, dir.path());
  CHECK(refused.status == 2);
  CHECK(refused.output.find((dir / "bad.csv").string() + ":3: kind: \"lamp\" is not") != std::string::npos);
  CHECK(refused.output.find((dir / "bad.csv").string() + ":4: road_length_m: \"far\" is not a number") != std::string::npos);
  CHECK(refused.output.find("nothing imported") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(db));

  // Before the first start: the import creates the store.
  write_file(dir / "devices.csv", "id,kind,name,village,report_interval\n"
                                  "tasmota/den-08,streetlight,Đèn số 8,Thôn 3,5min\n"
                                  "tasmota/tram-khi,environment,Trạm khí,Thôn 1,\n");
  const auto imported = run_communegw({"--config", config_path, "device", "import", (dir / "devices.csv").string()}, dir.path());
  CHECK(imported.status == 0);
  CHECK(imported.output.find("2 devices") != std::string::npos);
  const auto listed = run_communegw({"--config", config_path, "device", "list", "--format", "csv"}, dir.path());
  CHECK(listed.status == 0);
  CHECK(listed.output.find("tasmota/den-cong,streetlight,Đèn cổng làng,Thôn 3") != std::string::npos);
  CHECK(listed.output.find("tasmota/den-08,streetlight,Đèn số 8,Thôn 3") != std::string::npos);
  CHECK(listed.output.find("Thôn 3,,,,5m,,,") != std::string::npos);  // report_interval as a duration
  // What `device list` writes imports back as it is.
  write_file(dir / "listed.csv", listed.output);
  CHECK(run_communegw({"--config", config_path, "device", "import", (dir / "listed.csv").string()}, dir.path()).status == 0);
  CHECK(run_communegw({"--config", config_path, "device", "list", "--format", "csv"}, dir.path()).output.find(
            "tasmota/den-08,streetlight,Đèn số 8,Thôn 3,,,,5m,,,") != std::string::npos);

  gateway_process gateway(dir / "gw", config);
  publisher pub(broker.uri());
  // The gateway's first session has no subscription before it subscribes:
  // wait until a probe device's will arrives.
  REQUIRE(wait_for([&] {
    pub.publish("tele/probe/LWT", "Online");
    return store_count(db, "SELECT count(*) FROM devices WHERE name = 'tasmota/probe' AND availability = 'online'") == 1;
  }, 20s));
  REQUIRE(pub.publish("tele/den-cong/STATE", R"({"Time":"2026-11-23T18:05:00","POWER":"ON"})"));
  REQUIRE(pub.publish("tele/den-08/LWT", "Online"));
  REQUIRE(pub.publish("tele/den-08/STATE", R"({"Time":"2026-11-23T18:05:00","POWER":"OFF"})"));
  REQUIRE(pub.publish("tele/den-08/LWT", "Offline"));
  REQUIRE(pub.publish("tele/quat-hut/STATE", R"({"Time":"2026-11-23T18:05:00","POWER":"ON"})"));
  REQUIRE(wait_for([&] {
    return store_count(db, "SELECT count(*) FROM readings WHERE device = 'tasmota/quat-hut'") >= 1 &&
           store_count(db, "SELECT count(*) FROM availability_history h JOIN devices d ON d.id = h.device "
                           "WHERE d.name = 'tasmota/den-08'") >= 2;
  }, 20s));
  // Registered as streetlights: the relay is the lamp. Not registered: a switch, as before.
  CHECK(store_count(db, "SELECT value FROM readings WHERE device = 'tasmota/den-cong' AND metric = 'lamp_on'") == 1);
  CHECK(store_count(db, "SELECT count(*) FROM readings WHERE device = 'tasmota/den-08' AND metric = 'lamp_on' AND value = 0") == 1);
  CHECK(store_count(db, "SELECT count(*) FROM readings WHERE device = 'tasmota/quat-hut' AND metric = 'switch_on'") == 1);
  CHECK(store_count(db, "SELECT count(*) FROM devices WHERE name = 'tasmota/den-cong' AND kind = 'streetlight'") == 1);
  CHECK(store_count(db, "SELECT count(*) FROM devices WHERE name = 'tasmota/quat-hut' AND kind = 'environment'") == 1);
  const auto states = run_communegw({"--config", config_path, "query", "devices", "--format", "csv"}, dir.path());
  CHECK(states.output.find("tasmota/den-08,streetlight,Đèn số 8,Thôn 3,") != std::string::npos);
  CHECK(states.output.find("tasmota/tram-khi,environment,Trạm khí,Thôn 1,,,never heard from,") != std::string::npos);
  CHECK(gateway.terminate(10s) == 0);
  // Online, then offline: both changes kept, in order.
  CHECK(store_count(db, "SELECT count(*) FROM availability_history h JOIN devices d ON d.id = h.device "
                        "WHERE d.name = 'tasmota/den-08' AND h.state = 'online' AND h.id < (SELECT max(id) FROM "
                        "availability_history WHERE state = 'offline')") == 1);
  CHECK(store_count(db, "SELECT count(*) FROM availability_history h JOIN devices d ON d.id = h.device "
                        "WHERE d.name = 'tasmota/den-08'") == 2);
}
