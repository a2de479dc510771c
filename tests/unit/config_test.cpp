#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gateway/config/config.hpp"
#include "gateway/config/quantity.hpp"
#include "gateway/model/metric_catalogue.hpp"

using namespace communegw;

namespace {

const std::string minimal = "[gateway]\nid = \"gw-1\"\nprovince = \"p\"\ncommune = \"c\"\n";

std::string error_of(const std::string& text) {
  try {
    parse_config(text, "/etc/communegw/test.toml");
  } catch (const config_error& error) {
    return error.what();
  }
  return "(no error)";
}

std::string read(const std::string& relative) {
  // A path, not string concatenation: GCC 12's -Warray-bounds misfires on
  // `std::string(literal) + "/" + s` at -O2 for some lengths of the literal,
  // so the build would depend on where the repository is checked out.
  std::ifstream in(std::filesystem::path(COMMUNEGW_SOURCE_DIR) / relative);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

TEST_CASE("durations and sizes need units and are parsed exactly") {
  CHECK(parse_duration("30s") == std::chrono::seconds(30));
  CHECK(parse_duration("250ms") == std::chrono::milliseconds(250));
  CHECK(parse_duration("2h") == std::chrono::hours(2));
  CHECK(parse_size("512MiB") == 512ull << 20);
  CHECK(parse_size("2GiB") == 2ull << 30);
  CHECK(parse_size("100MB") == 100'000'000ull);
  for (const auto* bad : {"", "30", "abc", "3.5s", "-1s", "30 s", "1w"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration(bad).has_value());
  }
  CHECK_FALSE(parse_size("99999999999999999999GiB").has_value());
  CHECK(format_size(512ull << 20) == "512MiB");
  CHECK(format_duration(std::chrono::milliseconds(90'000)) == "90s");
}

TEST_CASE("a minimal config gets documented defaults") {
  const auto cfg = parse_config(minimal, "/etc/communegw/communegw.toml");
  CHECK(cfg.gateway.id == "gw-1");
  CHECK(cfg.mqtt.client_id == "communegw-gw-1");
  CHECK(cfg.mqtt.uri == "tcp://127.0.0.1:1883");
  CHECK(cfg.mqtt.keepalive == std::chrono::seconds(30));
  CHECK(cfg.store.max_size == 512ull << 20);
  CHECK(cfg.store.path == "/var/lib/communegw/communegw.db");
  CHECK_FALSE(cfg.store.synchronous_full);
  REQUIRE(cfg.drivers.size() >= 1);
  CHECK(cfg.drivers[0].name == "native");
  CHECK(cfg.drivers[0].enabled);
  CHECK(cfg.drivers[0].topics == std::vector<std::string>{"commune/+/+/+/+"});
}

TEST_CASE("relative paths are relative to the config file") {
  const auto cfg = parse_config(minimal + "[store]\npath = \"state/gw.db\"\n", "/srv/gw/communegw.toml");
  CHECK(cfg.store.path == "/srv/gw/state/gw.db");
}

TEST_CASE("every bad config names file, line and key") {
  CHECK(error_of(minimal + "[store]\nmax_size = 512\n") ==
        "/etc/communegw/test.toml:6: store.max_size: a size needs a unit, e.g. \"512MiB\" (units: B, KiB, MiB, GiB, KB, MB, GB)");
  CHECK(error_of(minimal + "[store]\nmax_size = \"lots\"\n") ==
        "/etc/communegw/test.toml:6: store.max_size: \"lots\" is not a size (e.g. \"64KiB\", \"512MiB\", \"2GiB\")");
  CHECK(error_of(minimal + "[store]\nmax_size = \"512KiB\"\n") ==
        "/etc/communegw/test.toml:6: store.max_size: 512KiB is out of range (1MiB … 1024GiB)");
  CHECK(error_of(minimal + "[mqtt]\nkeepalive = \"abc\"\n") ==
        "/etc/communegw/test.toml:6: mqtt.keepalive: \"abc\" is not a duration (e.g. \"500ms\", \"30s\", \"5m\", \"1h\")");
  CHECK(error_of(minimal + "[mqtt]\nkeepalive = 30\n") ==
        "/etc/communegw/test.toml:6: mqtt.keepalive: a duration needs a unit, e.g. \"30s\" (units: ms, s, m, h, d)");
  CHECK(error_of(minimal + "[mqtt]\nkeepalive = \"1s\"\n") ==
        "/etc/communegw/test.toml:6: mqtt.keepalive: 1s is out of range (5s … 10m)");
  CHECK(error_of(minimal + "[mqtt]\nkepalive = \"30s\"\n") ==
        "/etc/communegw/test.toml:6: mqtt.kepalive: unknown key (see config/communegw.example.toml)");
  CHECK(error_of(minimal + "[mqt]\nuri = \"tcp://x:1\"\n") == "/etc/communegw/test.toml:5: mqt: unknown section");
  CHECK(error_of(minimal + "[store]\nsynchronous = \"sometimes\"\n") ==
        "/etc/communegw/test.toml:6: store.synchronous: \"sometimes\" is not one of: normal, full");
  CHECK(error_of(minimal + "[store]\nquarantine_rows = -3\n") ==
        "/etc/communegw/test.toml:6: store.quarantine_rows: -3 is negative");
  CHECK(error_of(minimal + "[store]\nquarantine_rows = \"10\"\n") ==
        "/etc/communegw/test.toml:6: store.quarantine_rows: expected an integer");
  CHECK(error_of(minimal + "[mqtt]\nuri = \"http://broker\"\n") ==
        "/etc/communegw/test.toml:6: mqtt.uri: \"http://broker\" must start with tcp:// or ssl://");
  CHECK(error_of(minimal + "[mqtt]\nreconnect_min = \"2m\"\nreconnect_max = \"1m\"\n") ==
        "/etc/communegw/test.toml:6: mqtt.reconnect_min: is longer than mqtt.reconnect_max");
  CHECK(error_of(minimal + "[mqtt]\ncert_file = \"c.pem\"\n") ==
        "/etc/communegw/test.toml:6: mqtt.cert_file: mutual TLS needs both mqtt.cert_file and mqtt.key_file");
  CHECK(error_of(minimal + "[driver.native]\ntopics = []\nenabled = \"yes\"\n") ==
        "/etc/communegw/test.toml:7: driver.native.enabled: expected true or false");
  CHECK(error_of("[gateway]\nid = \"gw 1\"\nprovince = \"p\"\ncommune = \"c\"\n") ==
        "/etc/communegw/test.toml:2: gateway.id: \"gw 1\" is not an identifier (letters, digits, '-', '_'; 1-64)");
  CHECK(error_of("[gateway]\nid = \"gw-1\"\nprovince = \"p\"\n") == "/etc/communegw/test.toml: gateway.commune: required key is missing");
  CHECK(error_of("[gateway\nid=1") .rfind("/etc/communegw/test.toml:1: ", 0) == 0);
  CHECK(error_of(minimal + "[mqtt]\npassword_file = \"/nonexistent/pw\"\n") ==
        "/etc/communegw/test.toml:6: mqtt.password_file: cannot read \"/nonexistent/pw\"");
  CHECK(error_of(minimal + "[mqtt]\nuri = 5\n") == "/etc/communegw/test.toml:6: mqtt.uri: expected a string");
  CHECK(error_of(minimal + "[driver.native]\ntopics = \"commune/#\"\n") ==
        "/etc/communegw/test.toml:6: driver.native.topics: expected an array of strings");
  CHECK(error_of(minimal + "[driver.native]\ntopics = [\"commune/#\", \"\"]\n") ==
        "/etc/communegw/test.toml:6: driver.native.topics: expected non-empty strings");
  CHECK(error_of(minimal + "[driver.native]\ntopics = [\"commune/#\", 3]\n") ==
        "/etc/communegw/test.toml:6: driver.native.topics: expected non-empty strings");
  // A file that is not there at all.
  try {
    load_config("/nonexistent/communegw.toml");
    FAIL("no error");
  } catch (const config_error& error) {
    CHECK(std::string(error.what()) == "/nonexistent/communegw.toml: cannot open the configuration file");
  }
}

TEST_CASE("aggregation and uplink settings are checked, with file, line and key") {
  CHECK(error_of(minimal + "[aggregate]\nperiods = [\"7m\"]\n") ==
        "/etc/communegw/test.toml:6: aggregate.periods: \"7m\" is not a period of at least 1m that divides a day (e.g. \"5m\", \"1h\")");
  CHECK(error_of(minimal + "[aggregate]\nperiods = [\"5m\", \"5m\"]\n") ==
        "/etc/communegw/test.toml:6: aggregate.periods: \"5m\" is listed twice");
  CHECK(error_of(minimal + "[aggregate]\nutc_offset = \"7\"\n") ==
        "/etc/communegw/test.toml:6: aggregate.utc_offset: \"7\" is not an offset like \"+07:00\"");
  CHECK(error_of(minimal + "[uplink]\naggregate_periods = [\"1d\"]\n") ==
        "/etc/communegw/test.toml:6: uplink.aggregate_periods: \"1d\" is not in aggregate.periods");
  CHECK(error_of(minimal + "[uplink]\nraw_metrics = [\"pm25\"]\n") ==
        "/etc/communegw/test.toml:6: uplink.raw_metrics: \"pm25\" is not a canonical metric (docs/metrics.md)");
  CHECK(error_of(minimal + "[uplink]\nuri = \"http://centre\"\n") ==
        "/etc/communegw/test.toml:6: uplink.uri: \"http://centre\" must start with tcp:// or ssl://");
  const auto cfg = parse_config(minimal + "[aggregate]\nutc_offset = \"-03:30\"\n", "/etc/communegw/test.toml");
  CHECK(cfg.aggregate.utc_offset == std::chrono::minutes(-210));
  CHECK(cfg.uplink.aggregate_periods == std::vector<std::chrono::milliseconds>{std::chrono::hours(1)});
  CHECK_FALSE(cfg.uplink.enabled);
}

TEST_CASE("the password comes from its own file, first line only") {
  const auto path = std::filesystem::temp_directory_path() / "communegw-test-password";
  {
    std::ofstream out(path);
    out << "s3cret-Pw\nsecond line ignored\n";
  }
  const auto cfg = parse_config(minimal + "[mqtt]\nusername = \"gateway\"\npassword_file = \"" + path.string() + "\"\n", "/x.toml");
  CHECK(cfg.mqtt.password == "s3cret-Pw");
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::others_read);
  const auto loose = parse_config(minimal + "[mqtt]\npassword_file = \"" + path.string() + "\"\n", "/x.toml");
  REQUIRE(loose.warnings.size() == 1);
  CHECK(loose.warnings[0] ==
        "/x.toml:6: mqtt.password_file: \"" + path.string() + "\" can be read by other users; chmod 600 it");
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  CHECK(parse_config(minimal + "[mqtt]\npassword_file = \"" + path.string() + "\"\n", "/x.toml").warnings.empty());
  // An empty first line is no password.
  {
    std::ofstream out(path);
    out << "  \nsecond\n";
  }
  CHECK(error_of(minimal + "[mqtt]\npassword_file = \"" + path.string() + "\"\n") ==
        "/etc/communegw/test.toml:6: mqtt.password_file: \"" + path.string() + "\" is empty");
  std::filesystem::remove(path);
}

TEST_CASE("the example config in the repository is the generated one, and it loads") {
  CHECK(read("config/communegw.example.toml") == example_config());
  const auto cfg = parse_config(example_config(), "/etc/communegw/communegw.toml");
  CHECK(cfg.gateway.id == "gw-demo-01");
}

TEST_CASE("docs/metrics.md is the generated metric catalogue") {
  CHECK(read("docs/metrics.md") == metric_catalogue_markdown());
}

TEST_CASE("driver options are validated by the same table, with file:line: key: message") {
  CHECK(error_of(minimal + "[driver.zigbee2mqtt]\ndevice_kind = \"tractor\"\n") ==
        "/etc/communegw/test.toml:6: driver.zigbee2mqtt.device_kind: \"tractor\" is not one of: environment, streetlight");
  CHECK(error_of(minimal + "[driver.tasmota]\nfull_topic = \"%topic%/tele/\"\n") ==
        "/etc/communegw/test.toml:6: driver.tasmota.full_topic: \"%topic%/tele\" must hold %prefix% once and one of "
        "%topic%, %hostname%, %id% once");
  CHECK(error_of(minimal + "[driver.esphome]\nsensors = [\n  \"soil = soil_moisture %\",\n  \"t = temperature furlong\",\n]\n") ==
        "/etc/communegw/test.toml:8: driver.esphome.sensors: \"t = temperature furlong\": unit \"furlong\" cannot be "
        "converted to °C");
  CHECK(error_of(minimal + "[driver.esphome]\ndiscovery_prefix = \"\"\n") ==
        "/etc/communegw/test.toml:6: driver.esphome.discovery_prefix: \"\" must be a topic prefix: not empty, no '+' "
        "or '#', no leading or trailing '/'");
  const auto cfg = parse_config(minimal + "[driver.zigbee2mqtt]\nenabled = true\ndevice_kind = \"streetlight\"\n", "/x.toml");
  const auto z2m = std::find_if(cfg.drivers.begin(), cfg.drivers.end(), [](const auto& d) { return d.name == "zigbee2mqtt"; });
  REQUIRE(z2m != cfg.drivers.end());
  CHECK(z2m->enabled);
  CHECK(z2m->texts.at("device_kind") == "streetlight");
}
