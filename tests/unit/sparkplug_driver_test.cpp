#include <doctest/doctest.h>

#include <cmath>

#include <fmt/format.h>

#include "drivers/sparkplug/sparkplug_driver.hpp"
#include "tests/support/sparkplug_payload.hpp"
#include "tests/unit/driver_fixtures.hpp"

using namespace communegw;

namespace {

using test::ok;

const std::string nbirth = "spBv1.0/xa/NBIRTH/tram";
const std::string ndata = "spBv1.0/xa/NDATA/tram";
const std::string ndeath = "spBv1.0/xa/NDEATH/tram";
const std::string dbirth = "spBv1.0/xa/DBIRTH/tram/den";
const std::string ddata = "spBv1.0/xa/DDATA/tram/den";

std::unique_ptr<driver> fixture_driver() {
  return make_sparkplug_driver(test::fixture_settings("sparkplug"));
}

// An NBIRTH defining Sensors/Temperature (Float, °C) as alias 2, with `bd_seq` and `seq`.
std::string birth(int bd_seq, int seq) {
  return test::encode_sparkplug_fixture(
      fmt::format("timestamp 1795402800000\nseq {}\nmetric name=\"bdSeq\" datatype=UInt64 value={}\n"
                  "metric name=\"Sensors/Temperature\" alias=2 datatype=Float value=20 engUnit=\"°C\"\n",
                  seq, bd_seq));
}

std::string data(int seq, double temperature, std::int64_t timestamp = 1795402860000) {
  return test::encode_sparkplug_fixture(
      fmt::format("timestamp {}\nseq {}\nmetric alias=2 float={}\n", timestamp, seq, temperature));
}

std::string death(int bd_seq) {
  return test::encode_sparkplug_fixture(fmt::format("metric name=\"bdSeq\" datatype=UInt64 value={}\n", bd_seq));
}

std::vector<std::string> gap_events(const decoded_message& m) {
  std::vector<std::string> out;
  for (const auto& e : m.events) out.push_back(e.attributes_json);
  for (const auto& part : m.other_devices) {
    for (const auto& e : part.events) out.push_back(part.device_id + " " + e.attributes_json);
  }
  return out;
}

std::string rejection_reason(const decode_result& result) {
  const auto* why = std::get_if<rejection>(&result);
  return why ? std::string(to_string(why->reason)) : std::string("(accepted)");
}

}  // namespace

TEST_CASE("sparkplug fixtures decode to their expected results") {
  auto driver = fixture_driver();
  const auto [normal, hostile] = test::check_driver_fixtures("sparkplug", *driver, &test::encode_sparkplug_fixture);
  CHECK(normal >= 20);
  CHECK(hostile >= 25);
}

TEST_CASE("sparkplug: seq wraps from 255 to 0 without a gap, and a gap across the wrap counts what was missed") {
  auto driver = fixture_driver();
  REQUIRE(ok(driver->decode(nbirth, birth(1, 254))).reported_availability == availability::online);
  CHECK(gap_events(ok(driver->decode(ndata, data(255, 21)))).empty());
  CHECK(gap_events(ok(driver->decode(ndata, data(0, 22)))).empty());
  CHECK(gap_events(ok(driver->decode(ndata, data(0, 22)))).empty());  // the same message again
  CHECK(gap_events(ok(driver->decode(ndata, data(1, 23)))).empty());
  // 2 … 253 lost: 252 messages.
  const auto after_gap = ok(driver->decode(ndata, data(254, 24)));
  CHECK(gap_events(after_gap) ==
        std::vector<std::string>{R"({"cause":"seq_gap","expected":2,"received":254,"missed":252})"});
  REQUIRE(after_gap.readings.size() == 1);  // the data is kept
  CHECK(after_gap.readings[0].value == 24);
  // 255 and 0 lost, across the wrap.
  CHECK(gap_events(ok(driver->decode(ndata, data(1, 25)))) ==
        std::vector<std::string>{R"({"cause":"seq_gap","expected":255,"received":1,"missed":2})"});
}

TEST_CASE("sparkplug: a device message's gap is the edge node's event") {
  auto driver = fixture_driver();
  ok(driver->decode(nbirth, birth(1, 0)));
  ok(driver->decode(
      dbirth, test::encode_sparkplug_fixture(
                  "timestamp 1795402800000\nseq 1\nmetric name=\"Lamp/On\" alias=100 datatype=Boolean value=true\n")));
  const auto m = ok(driver->decode(
      ddata, test::encode_sparkplug_fixture("timestamp 1795402800000\nseq 5\nmetric alias=100 bool=false\n")));
  CHECK(m.device_id == "sparkplug/xa/tram/den");
  CHECK(gap_events(m) ==
        std::vector<std::string>{R"(sparkplug/xa/tram {"cause":"seq_gap","expected":2,"received":5,"missed":3})"});
}

TEST_CASE(
    "sparkplug: only the NDEATH of the current birth takes the node and its devices offline, and data then needs a new "
    "birth") {
  auto driver = fixture_driver();
  ok(driver->decode(nbirth, birth(4, 0)));
  ok(driver->decode(
      dbirth, test::encode_sparkplug_fixture(
                  "timestamp 1795402800000\nseq 1\nmetric name=\"Lamp/On\" alias=100 datatype=Boolean value=true\n")));
  // The will of the connection before (bdSeq 3) arrives late: ignored.
  const auto stale = ok(driver->decode(ndeath, death(3)));
  CHECK(stale.device_id.empty());
  CHECK(!stale.reported_availability);
  CHECK(ok(driver->decode(ndata, data(2, 21))).readings.size() == 1);

  const auto current = ok(driver->decode(ndeath, death(4)));
  CHECK(current.device_id == "sparkplug/xa/tram");
  CHECK(current.reported_availability == availability::offline);
  REQUIRE(current.other_devices.size() == 1);
  CHECK(current.other_devices[0].device_id == "sparkplug/xa/tram/den");
  CHECK(current.other_devices[0].reported_availability == availability::offline);

  CHECK(rejection_reason(driver->decode(ndata, data(3, 21))) == "unknown_alias");
  CHECK(rejection_reason(driver->decode(
            ddata, test::encode_sparkplug_fixture("timestamp 1\nseq 4\nmetric alias=100 bool=false\n"))) ==
        "unknown_alias");
  ok(driver->decode(nbirth, birth(5, 0)));
  CHECK(ok(driver->decode(ndata, data(1, 22))).readings.size() == 1);
}

TEST_CASE(
    "sparkplug: a redelivery has the message's identity, the same seq 256 messages later another, no timestamp none") {
  auto driver = fixture_driver();
  ok(driver->decode(nbirth, birth(1, 0)));
  const auto first = ok(driver->decode(ndata, data(1, 21, 1795402860000)));
  const auto again = ok(driver->decode(ndata, data(1, 21, 1795402860000)));
  const auto lap_later = ok(driver->decode(ndata, data(1, 21, 1795403116000)));
  const auto untimed = ok(driver->decode(ndata, test::encode_sparkplug_fixture("seq 2\nmetric alias=2 float=21\n")));
  CHECK(first.identity != 0);
  CHECK(first.identity == again.identity);
  CHECK(first.identity != lap_later.identity);
  CHECK(untimed.identity == 0);
  CHECK(!untimed.device_time_ms);
  // Sparkplug's seq is no per-device sequence number (it repeats every 256 messages).
  CHECK(!first.sequence);
}

TEST_CASE("sparkplug: integers decode by the birth's datatype") {
  struct row {
    const char* datatype;
    const char* value;  // as the data message carries it
    double expected;    // NAN: refused
  };
  const row rows[] = {
      {"Int8", "int=-5", -5},
      {"Int8", "int=251", -5},
      {"Int8", "int=127", 127},
      {"Int8", "int=300", NAN},
      {"Int16", "int=-300", -300},
      {"Int16", "int=65535", -1},
      {"Int32", "int=-40", -40},
      {"Int32", "long=-40", -40},
      {"Int64", "long=-40", -40},
      {"UInt8", "int=255", 255},
      {"UInt8", "int=256", NAN},
      {"UInt16", "int=65535", 65535},
      {"UInt32", "int=4000000000", 4e9},
      {"UInt32", "long=4000000000", 4e9},
      {"UInt64", "long=123", 123},
      {"Int16", "float=3", NAN},
      {"Float", "double=2.5", 2.5},
      {"Double", "float=2.5", 2.5},
      {"Boolean", "bool=true", 1},
      {"Boolean", "int=1", NAN},
      {"String", "string=\"12.5\"", 12.5},
      {"String", "string=\"12.5 V\"", NAN},
  };
  for (const auto& r : rows) {
    CAPTURE(r.datatype);
    CAPTURE(r.value);
    auto settings = test::fixture_settings("sparkplug");
    // One mapping whose range holds every row: uptime (0 … 3.2e9 s), raw × 0.5 + 1e9.
    settings.tables["mapping"] = {
        driver_table{{{"name", "X"}, {"metric", "uptime"}, {"unit", "s"}}, {{"scale", 0.5}, {"offset", 1e9}}, {}, {}}};
    auto driver = make_sparkplug_driver(settings);
    const std::string birth_value = std::string(r.datatype) == "Boolean"                         ? "false"
                                    : std::string(r.datatype).find("tring") != std::string::npos ? "\"0\""
                                                                                                 : "0";
    ok(driver->decode(nbirth, test::encode_sparkplug_fixture(fmt::format(
                                  "timestamp 1795402800000\nseq 0\nmetric name=\"bdSeq\" datatype=UInt64 value=0\n"
                                  "metric name=\"X\" alias=1 datatype={} value={}\n",
                                  r.datatype, birth_value))));
    const auto m = ok(driver->decode(ndata, test::encode_sparkplug_fixture(fmt::format(
                                                "timestamp 1795402800000\nseq 1\nmetric alias=1 {}\n", r.value))));
    if (std::isnan(r.expected)) {
      CHECK(m.readings.empty());
      CHECK(m.field_rejections.size() == 1);
    } else {
      REQUIRE(m.readings.size() == 1);
      CHECK((m.readings[0].value - 1e9) / 0.5 == r.expected);
      CHECK(m.field_rejections.empty());
    }
  }
}

TEST_CASE("sparkplug: NCMD and DCMD are commands, not data, and a STATE older than the last is stale") {
  auto driver = fixture_driver();
  CHECK(test::describe_result(driver->decode("spBv1.0/xa/NCMD/tram", "garbage")) ==
        std::vector<std::string>{"ignored ignored_topic"});
  CHECK(test::describe_result(driver->decode("spBv1.0/xa/DCMD/tram/den", "")) == std::vector<std::string>{"ignored ignored_topic"});
  CHECK(ok(driver->decode("spBv1.0/STATE/host", R"({"online":true,"timestamp":2000})")).reported_availability ==
        availability::online);
  CHECK(!ok(driver->decode("spBv1.0/STATE/host", R"({"online":false,"timestamp":1000})")).reported_availability);
  CHECK(ok(driver->decode("spBv1.0/STATE/host", R"({"online":false,"timestamp":3000})")).reported_availability ==
        availability::offline);
  CHECK(rejection_reason(driver->decode("spBv1.0/STATE/host", R"({"timestamp":3000})")) == "missing_field");
}

TEST_CASE("sparkplug: mapping tables are checked at start-up, with file:line: key: message") {
  const std::string head = "[gateway]\nid = \"gw-1\"\nprovince = \"p\"\ncommune = \"c\"\n[driver.sparkplug]\n";
  const auto error_of = [&](const std::string& mapping) {
    try {
      parse_config(head + mapping, "/etc/communegw/test.toml");
    } catch (const config_error& error) {
      return std::string(error.what());
    }
    return std::string("(no error)");
  };
  CHECK(
      error_of("[[driver.sparkplug.mapping]]\nname = \"T\"\nmetric = \"temperature\"\nunit = \"furlong\"\n") ==
      "/etc/communegw/test.toml:9: driver.sparkplug.mapping.unit: \"furlong\" cannot be converted to °C (temperature)");
  CHECK(error_of("[[driver.sparkplug.mapping]]\nname = \"L\"\nmetric = \"lamp_on\"\nunit = \"%\"\n") ==
        "/etc/communegw/test.toml:9: driver.sparkplug.mapping.unit: lamp_on is on/off: leave out the unit");
  CHECK(error_of("[[driver.sparkplug.mapping]]\nname = \"T\"\nmetric = \"tempurature\"\n") ==
        "/etc/communegw/test.toml:8: driver.sparkplug.mapping.metric: \"tempurature\" is not a canonical metric (see "
        "docs/metrics.md)");
  CHECK(error_of("[[driver.sparkplug.mapping]]\nname = \"\"\nmetric = \"temperature\"\n") ==
        "/etc/communegw/test.toml:7: driver.sparkplug.mapping.name: a metric name cannot be empty");
  CHECK(error_of("[[driver.sparkplug.mapping]]\nname = \"T\"\nmetric = \"temperature\"\nunit = \"°F\"\n") ==
        "(no error)");
}
