#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>

#include "drivers/esphome/esphome_driver.hpp"
#include "drivers/lorawan/chirpstack_driver.hpp"
#include "drivers/zigbee2mqtt/zigbee2mqtt_driver.hpp"
#include "gateway/config/config.hpp"
#include "gateway/registry/device_registry.hpp"
#include "gateway/registry/registry_import.hpp"
#include "gateway/store/sqlite.hpp"
#include "gateway/store/store.hpp"
#include "tests/unit/driver_fixtures.hpp"

using namespace communegw;

namespace {

// A config file: the [gateway] section, then `tables`.
std::string config_text(std::string_view tables) {
  std::string text = "[gateway]\nid = \"gw\"\nprovince = \"p\"\ncommune = \"c\"\n";
  text.append(tables);
  return text;
}

struct temp_csv {
  std::filesystem::path dir;
  explicit temp_csv(const std::string& text) {
    std::string pattern = (std::filesystem::temp_directory_path() / "communegw-registry-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()));
    dir = pattern;
    std::ofstream(dir / "devices.csv", std::ios::binary) << text;
  }
  ~temp_csv() { std::filesystem::remove_all(dir); }
  std::filesystem::path file() const { return dir / "devices.csv"; }
};

bool has_error(const csv_import& result, const std::string& text) {
  for (const auto& error : result.errors) {
    if (error.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("[[device]] tables load into the registry, with file:line errors for bad ones") {
  const auto cfg = parse_config(config_text(
                                    "[[device]]\nid = \"tasmota/den-07\"\nkind = \"streetlight\"\nname = \"Đèn cổng làng\"\n"
                                    "village = \"Thôn 3\"\nlatitude = 22.8\nlongitude = 104.9\nroad_length_m = 35\n"
                                    "report_interval = \"5min\"\ndriver = \"tasmota\"\n"
                                    "[[device]]\nid = \"z2m/dat-3\"\nkind = \"environment\"\nunits = [\"soil_moisture=%\"]\n"),
                                "gw.toml");
  REQUIRE(cfg.devices.size() == 2);
  CHECK(cfg.devices[0].name == "Đèn cổng làng");
  CHECK(cfg.devices[0].road_length_m == 35.0);
  CHECK(cfg.devices[0].report_interval == std::chrono::minutes(5));
  CHECK(cfg.devices[1].units.at("soil_moisture") == "%");

  auto error_of = [&](const std::string& tables) {
    try {
      (void)parse_config(config_text(tables), "gw.toml");
    } catch (const config_error& error) {
      return std::string(error.what());
    }
    return std::string("(no error)");
  };
  CHECK(error_of("[[device]]\nid = \"a\"\nkind = \"lamp\"\n").rfind("gw.toml:7: device.kind: ", 0) == 0);
  CHECK(error_of("[[device]]\nkind = \"streetlight\"\n") == "gw.toml:5: device.id: required key is missing");
  CHECK(error_of("[[device]]\nid = \"a\"\nkind = \"camera\"\nlatitude = 95.0\nlongitude = 1.0\n")
            .rfind("gw.toml:8: device.latitude: must be within -90", 0) == 0);
  CHECK(error_of("[[device]]\nid = \"a\"\nkind = \"camera\"\nreport_interval = \"often\"\n")
            .rfind("gw.toml:8: device.report_interval: ", 0) == 0);
  CHECK(error_of("[[device]]\nid = \"a\"\nkind = \"camera\"\ndriver = \"nosuch\"\n").find("is not a driver") != std::string::npos);
  CHECK(error_of("[[device]]\nid = \"a\"\nkind = \"camera\"\nunits = [\"soil\"]\n").find("is not field=unit") != std::string::npos);
  CHECK(error_of("[[device]]\nid = \"a\"\nkind = \"camera\"\n[[device]]\nid = \"a\"\nkind = \"camera\"\n")
            == "gw.toml:8: device.id: \"a\" is already defined at gw.toml:5");
}

TEST_CASE("an installer's CSV is read with every bad row named by file:line and column") {
  temp_csv good("\xEF\xBB\xBFid,kind,name,village,latitude,longitude,road_length_m,report_interval,driver,units\r\n"
                "tasmota/den-07,streetlight,\"Đèn cổng, làng\",Thôn 3,22.8,104.9,35,5min,tasmota,\r\n"
                "z2m/dat-3,environment,\"Cảm biến \"\"đất\"\"\",Thôn 1,,,,,zigbee2mqtt,soil_moisture=%;temperature_1=°C\r\n"
                "\r\n");
  const auto read = read_registry_csv(good.file());
  REQUIRE(read.errors.empty());
  REQUIRE(read.devices.size() == 2);
  CHECK(read.devices[0].name == "Đèn cổng, làng");
  CHECK(read.devices[0].latitude == 22.8);
  CHECK(read.devices[0].source == good.file().string() + ":2");
  CHECK(read.devices[1].name == "Cảm biến \"đất\"");
  CHECK(read.devices[1].units.at("temperature_1") == "°C");
  CHECK_FALSE(read.devices[1].latitude.has_value());

  temp_csv bad("id,kind,road_length_m,colour\nx,streetlight,1,red\n");
  CHECK(has_error(read_registry_csv(bad.file()), ":1: column 4: \"colour\" is not one of"));

  temp_csv rows("id,kind,latitude,longitude,road_length_m,report_interval,driver\n"
                "a,streetlight,,,abc,,\n"
                "b,lamp,,,,,\n"
                "c,camera,91,0,,,\n"
                "d,camera,,,,soon,\n"
                "e,camera,,,,,nosuch\n"
                "a,camera,,,,,\n"
                "f,camera,,,,,,extra\n"
                "g,camera,,,,,\n"
                "g,environment,,,,,\n");
  const auto refused = read_registry_csv(rows.file());
  CHECK(refused.devices.size() == 2);  // the second "a" (the first was refused) and the first "g"
  CHECK(has_error(refused, ":2: road_length_m: \"abc\" is not a number"));
  CHECK(has_error(refused, ":3: kind: \"lamp\" is not streetlight"));
  CHECK(has_error(refused, ":4: latitude: must be within -90 … 90"));
  CHECK(has_error(refused, ":5: report_interval: \"soon\" is not a duration"));
  CHECK(has_error(refused, ":6: driver: \"nosuch\" is not a driver"));
  CHECK(has_error(refused, ":10: id: \"g\" is already on line 9"));
  CHECK(has_error(refused, ":8: 8 fields, the header has 7"));

  temp_csv no_kind("id,name\na,b\n");
  CHECK(has_error(read_registry_csv(no_kind.file()), ":1: the header row needs the columns id and kind"));
  temp_csv open_quote("id,kind\n\"a,camera\n");
  CHECK(has_error(read_registry_csv(open_quote.file()), ":2: a quoted field is not closed"));
}

TEST_CASE("imported devices are kept in the store and the config wins over them") {
  temp_csv csv("id,kind,name\ntasmota/den-07,environment,imported\ntasmota/den-08,streetlight,only imported\n");
  store_settings settings;
  settings.path = csv.dir / "gw.db";
  settings.max_size = 64ull << 20;
  settings.quarantine_rows = 10;
  settings.max_batch = 100;
  settings.max_uncommitted = 10;
  {
    store created(settings, "boot", 1'795'403'100'000);
    replace_imported_devices(created.database(), read_registry_csv(csv.file()).devices);
  }
  sqlite::database db(settings.path, SQLITE_OPEN_READONLY);
  auto imported = load_imported_devices(db);
  REQUIRE(imported.size() == 2);
  registered_device configured;
  configured.id = "tasmota/den-07";
  configured.kind = "streetlight";
  configured.name = "from the config";
  const device_registry registry({configured}, imported);
  CHECK(registry.all().size() == 2);
  CHECK(registry.find("tasmota/den-07")->name == "from the config");
  CHECK(registry.find("tasmota/den-08")->name == "only imported");
  CHECK(registry.find("tasmota/den-09") == nullptr);
}

TEST_CASE("the registry completes decoded messages: kind, and a relay registered as a streetlight reports lamp_on") {
  registered_device relay;
  relay.id = "tasmota/relay-1";
  relay.kind = "streetlight";
  const device_registry registry({relay}, {});
  decoded_message message;
  message.device_id = "tasmota/relay-1";
  message.kind = device_kind::environment;
  message.readings.push_back({find_metric("switch_on"), 1.0});
  message.readings.push_back({find_metric("power"), 36.5});
  decoded_message other;
  other.device_id = "tasmota/not-registered";
  other.kind = device_kind::environment;
  other.readings.push_back({find_metric("switch_on"), 0.0});
  message.other_devices.push_back(other);
  registry.apply(message);
  CHECK(message.kind == device_kind::streetlight);
  CHECK(message.readings[0].metric->name == "lamp_on");
  CHECK(message.readings[1].metric->name == "power");
  CHECK(message.other_devices[0].kind == device_kind::environment);
  CHECK(message.other_devices[0].readings[0].metric->name == "switch_on");
}

TEST_CASE("zigbee2mqtt: endpoint properties go to the endpoint's device, and a registered unit is used when the bridge announces none") {
  registered_device sensor;
  sensor.id = "zigbee2mqtt/dat-3";
  sensor.kind = "environment";
  sensor.units = {{"voltage", "mV"}};
  const device_registry registry({sensor}, {});
  driver_settings settings{"zigbee2mqtt", true, {"zigbee2mqtt/#"}};
  settings.texts["device_kind"] = "environment";
  auto plain_settings = settings;
  settings.registry = &registry;
  auto driver = make_zigbee2mqtt_driver(settings);
  const auto lines = test::describe_result(
      driver->decode("zigbee2mqtt/dat-3", R"({"temperature_1":21.5,"humidity_l2":80,"temperature":22,"voltage":3010})"));
  CHECK(test::result_matches(lines, {"device zigbee2mqtt/dat-3", "kind environment", "reading temperature 22",
                                     "reading battery_voltage 3.01", "device zigbee2mqtt/dat-3/1",
                                     "kind environment", "reading temperature 21.5", "device zigbee2mqtt/dat-3/l2",
                                     "kind environment", "reading humidity 80"}));
  // Without the registry the voltage's unit is unknown, as before.
  auto plain = make_zigbee2mqtt_driver(plain_settings);
  const auto plain_lines = test::describe_result(plain->decode("zigbee2mqtt/dat-3", R"({"voltage":3010})"));
  CHECK(test::result_matches(plain_lines, {"device zigbee2mqtt/dat-3", "kind environment", "field unknown_value \"voltage\": unit unknown"}));
}

TEST_CASE("expected reporting intervals: per metric where the device says so, else the device's") {
  const auto cfg = parse_config(config_text("[[device]]\nid = \"tram-khi\"\nkind = \"environment\"\nreport_interval = \"5m\"\n"
                                            "metric_intervals = [\"rainfall=1h\", \"noise_level=30s\"]\n"),
                                "gw.toml");
  const device_registry registry(cfg.devices, {});
  CHECK(registry.expected_interval("tram-khi", "pm2_5") == std::chrono::minutes(5));
  CHECK(registry.expected_interval("tram-khi", "rainfall") == std::chrono::hours(1));
  CHECK(registry.expected_interval("tram-khi", "noise_level") == std::chrono::seconds(30));
  CHECK(registry.expected_interval("other", "pm2_5") == std::chrono::milliseconds(0));

  temp_csv csv("id,kind,metric_intervals\ntram-2,environment,rainfall=1h;pm2_5=10m\ntram-3,environment,rain=1h\n"
               "tram-4,environment,rainfall=often\n");
  const auto read = read_registry_csv(csv.file());
  REQUIRE(read.devices.size() == 1);
  CHECK(read.devices[0].metric_intervals.at("pm2_5") == std::chrono::minutes(10));
  CHECK(has_error(read, ":3: metric_intervals: \"rain\" is not a canonical metric"));
  CHECK(has_error(read, ":4: metric_intervals: \"often\" is not a duration"));

  auto error_of = [&](const std::string& tables) {
    try {
      (void)parse_config(config_text(tables), "gw.toml");
    } catch (const config_error& error) {
      return std::string(error.what());
    }
    return std::string("(no error)");
  };
  CHECK(error_of("[[device]]\nid = \"a\"\nkind = \"camera\"\nmetric_intervals = [\"pm25=1h\"]\n")
            .rfind("gw.toml:8: device.metric_intervals: \"pm25\" is not a canonical metric", 0) == 0);

  // Kept in the store and read back.
  store_settings settings;
  settings.path = csv.dir / "gw.db";
  settings.max_size = 64ull << 20;
  settings.quarantine_rows = 10;
  settings.max_batch = 100;
  settings.max_uncommitted = 10;
  {
    store created(settings, "boot", 1'795'403'100'000);
    replace_imported_devices(created.database(), read.devices);
  }
  sqlite::database db(settings.path, SQLITE_OPEN_READONLY);
  const auto loaded = load_imported_devices(db);
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0].metric_intervals == read.devices[0].metric_intervals);
}

TEST_CASE("registered units also serve ESPHome sensors without discovery and LoRaWAN codec fields without a unit") {
  registered_device node;
  node.id = "esphome/tram-dat";
  node.kind = "environment";
  node.units = {{"dat_am", "%"}};
  registered_device lora;
  lora.id = "chirpstack/24e124128c147204";
  lora.kind = "streetlight";
  lora.units = {{"voltage", "mV"}};
  const device_registry registry({node, lora}, {});

  driver_settings esphome{"esphome", true, {"+/sensor/+/state"}};
  esphome.texts["device_kind"] = "environment";
  esphome.lists["sensors"] = {"dat_am = soil_moisture"};
  auto plain = make_esphome_driver(esphome);
  CHECK(test::describe_result(plain->decode("tram-dat/sensor/dat_am/state", "41")).back().rfind("field unknown_value", 0) == 0);
  esphome.registry = &registry;
  auto registered = make_esphome_driver(esphome);
  CHECK(test::result_matches(test::describe_result(registered->decode("tram-dat/sensor/dat_am/state", "41")),
                             {"device esphome/tram-dat", "kind environment", "reading soil_moisture 41"}));

  auto lora_settings = test::fixture_settings("chirpstack");
  lora_settings.registry = &registry;
  auto chirpstack = make_chirpstack_driver(lora_settings);
  const auto lines = test::describe_result(chirpstack->decode(
      "application/1/device/24e124128c147204/event/up",
      R"({"fCnt":7,"fPort":2,"data":"AQ==","object":{"voltage":3600}})"));
  CHECK(std::find(lines.begin(), lines.end(), "reading voltage 3.6") != lines.end());
}

TEST_CASE("zigbee2mqtt: an endpoint whose device id would be over the bound is refused as a field, not stored") {
  driver_settings settings{"zigbee2mqtt", true, {"zigbee2mqtt/#"}};
  settings.texts["device_kind"] = "environment";
  auto driver = make_zigbee2mqtt_driver(settings);
  const std::string name(110, 'd');  // "zigbee2mqtt/" + 110 bytes: 122, and "/l12" would make 126, "/12345" too long
  const auto message = test::ok(driver->decode("zigbee2mqtt/" + name, R"({"temperature_12":21,"temperature_l1":22})"));
  REQUIRE(message.other_devices.size() == 2);
  for (const auto& part : message.other_devices) CHECK(part.device_id.size() <= 128);
  const std::string longer(120, 'e');
  const auto refused = test::ok(driver->decode("zigbee2mqtt/" + longer, R"({"temperature_12":21})"));
  CHECK(refused.other_devices.empty());
  REQUIRE(refused.field_rejections.size() == 1);
  CHECK(refused.field_rejections[0].reason == reject_reason::out_of_range);
}
