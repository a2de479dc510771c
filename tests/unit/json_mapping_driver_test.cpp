#include <doctest/doctest.h>

#include <sstream>

#include "drivers/json_mapping/json_mapping_driver.hpp"
#include "tests/unit/driver_fixtures.hpp"

using namespace communegw;

namespace {

const std::string minimal = "[gateway]\nid = \"gw-1\"\nprovince = \"p\"\ncommune = \"c\"\n";

std::string error_of(const std::string& text) {
  try {
    parse_config(minimal + text, "/etc/communegw/test.toml");
  } catch (const config_error& error) {
    return error.what();
  }
  return "(no error)";
}

using test::ok;

const std::string one_field =
    "[driver.json_mapping]\n"               // line 5
    "[[driver.json_mapping.mapping]]\n"     // 6
    "topic = \"s/{device}/t\"\n"            // 7
    "[[driver.json_mapping.mapping.field]]\n"  // 8
    "pointer = \"/t\"\n"                    // 9
    "metric = \"temperature\"\n";           // 10

}  // namespace

TEST_CASE("json_mapping fixtures decode to their expected results") {
  auto driver = make_json_mapping_driver(test::fixture_settings("json_mapping"));
  const auto [normal, hostile] = test::check_driver_fixtures("json_mapping", *driver);
  CHECK(normal >= 12);
  CHECK(hostile >= 15);
}

TEST_CASE("json_mapping: the first mapping whose pattern matches decodes the message") {
  const auto cfg = parse_config(minimal + "[driver.json_mapping]\n"
                                          "[[driver.json_mapping.mapping]]\ntopic = \"a/{device}/x\"\n"
                                          "[[driver.json_mapping.mapping.field]]\npointer = \"/v\"\nmetric = \"humidity\"\nunit = \"%\"\n"
                                          "[[driver.json_mapping.mapping]]\ntopic = \"a/+/{device}\"\ndevice_prefix = \"second/\"\n"
                                          "[[driver.json_mapping.mapping.field]]\npointer = \"/v\"\nmetric = \"temperature\"\nunit = \"K\"\n",
                                "/x.toml");
  const auto settings = std::find_if(cfg.drivers.begin(), cfg.drivers.end(), [](const auto& d) { return d.name == "json_mapping"; });
  REQUIRE(settings != cfg.drivers.end());
  auto driver = make_json_mapping_driver(*settings);
  const auto first = ok(driver->decode("a/node-1/x", R"({"v":40})"));
  CHECK(first.device_id == "json/node-1");
  REQUIRE(first.readings.size() == 1);
  CHECK(first.readings[0].metric->name == "humidity");
  const auto second = ok(driver->decode("a/b/node-2", R"({"v":300})"));
  CHECK(second.device_id == "second/node-2");
  REQUIRE(second.readings.size() == 1);
  CHECK(second.readings[0].value == doctest::Approx(26.85));
  CHECK(std::get<rejection>(driver->decode("a/b", R"({"v":1})")).reason == reject_reason::unknown_topic);
  CHECK(std::get<rejection>(driver->decode("a/b/c/d", R"({"v":1})")).reason == reject_reason::unknown_topic);
}

TEST_CASE("json_mapping: a bad mapping stops start-up with file:line: key: message") {
  CHECK(error_of(one_field) ==
        "/etc/communegw/test.toml:10: driver.json_mapping.mapping.field.metric: the unit the device sends temperature "
        "in is required (the metric's unit is °C)");
  CHECK(error_of(one_field + "unit = \"furlong\"\n") ==
        "/etc/communegw/test.toml:11: driver.json_mapping.mapping.field.unit: \"furlong\" cannot be converted to °C "
        "(temperature)");
  CHECK(error_of(one_field + "unit = \"°C\"\nmin = 50\nmax = 10\n") ==
        "/etc/communegw/test.toml:13: driver.json_mapping.mapping.field.max: 10 is not above min (50)");
  CHECK(error_of(one_field + "unit = \"°C\"\nscale = \"2\"\n") ==
        "/etc/communegw/test.toml:12: driver.json_mapping.mapping.field.scale: expected a number");
  CHECK(error_of(one_field + "unit = \"°C\"\nscale = nan\n") ==
        "/etc/communegw/test.toml:12: driver.json_mapping.mapping.field.scale: expected a finite number");
  CHECK(error_of(one_field + "unit = \"°C\"\ncolour = \"red\"\n") ==
        "/etc/communegw/test.toml:12: driver.json_mapping.mapping.field.colour: unknown key (known: pointer, metric, "
        "unit, scale, offset, min, max)");
  CHECK(error_of("[driver.json_mapping]\n[[driver.json_mapping.mapping]]\ntopic = \"s/{device}/t\"\n"
                 "[[driver.json_mapping.mapping.field]]\npointer = \"t\"\nmetric = \"temperature\"\nunit = \"°C\"\n") ==
        "/etc/communegw/test.toml:9: driver.json_mapping.mapping.field.pointer: \"t\" is not a JSON pointer: it must "
        "start with '/'");
  CHECK(error_of("[driver.json_mapping]\n[[driver.json_mapping.mapping]]\ntopic = \"s/{device}/t\"\n"
                 "[[driver.json_mapping.mapping.field]]\npointer = \"/a~2\"\nmetric = \"temperature\"\nunit = \"°C\"\n") ==
        "/etc/communegw/test.toml:9: driver.json_mapping.mapping.field.pointer: \"/a~2\" is not a JSON pointer: '~' "
        "must be followed by 0 or 1");
  CHECK(error_of("[driver.json_mapping]\n[[driver.json_mapping.mapping]]\ntopic = \"s/{device}/t\"\n"
                 "[[driver.json_mapping.mapping.field]]\npointer = \"/t\"\nmetric = \"warmth\"\nunit = \"°C\"\n") ==
        "/etc/communegw/test.toml:10: driver.json_mapping.mapping.field.metric: \"warmth\" is not a canonical metric "
        "(see docs/metrics.md)");
  CHECK(error_of("[driver.json_mapping]\n[[driver.json_mapping.mapping]]\ntopic = \"s/+/t\"\n") ==
        "/etc/communegw/test.toml:7: driver.json_mapping.mapping.topic: \"s/+/t\" must have exactly one {device} level");
  CHECK(error_of("[driver.json_mapping]\n[[driver.json_mapping.mapping]]\ntopic = \"s/{device}/#\"\n") ==
        "/etc/communegw/test.toml:7: driver.json_mapping.mapping.topic: \"s/{device}/#\": a level is {device}, '+' or "
        "plain text ('#', braces and partial '+' are not allowed)");
  CHECK(error_of("[driver.json_mapping]\n[[driver.json_mapping.mapping]]\ntopic = \"s/{device}\"\n") ==
        "/etc/communegw/test.toml:6: driver.json_mapping.mapping.field: a mapping needs at least one "
        "[[driver.json_mapping.mapping.field]] table");
  CHECK(error_of("[driver.json_mapping]\n[[driver.json_mapping.mapping]]\ndevice_kind = \"lamp\"\n") ==
        "/etc/communegw/test.toml:7: driver.json_mapping.mapping.device_kind: \"lamp\" is not one of: environment, "
        "streetlight");
  CHECK(error_of("[driver.json_mapping]\n[[driver.json_mapping.mapping]]\ntime_format = \"iso8601\"\n") ==
        "/etc/communegw/test.toml:6: driver.json_mapping.mapping.topic: required key is missing");
  CHECK(error_of("[driver.json_mapping.mapping]\ntopic = \"s/{device}\"\n") ==
        "/etc/communegw/test.toml:5: driver.json_mapping.mapping: expected tables: write "
        "[[driver.json_mapping.mapping]] once per entry");
  CHECK(error_of("[driver.json_mapping]\nmapping = [\"s/{device}\"]\n") ==
        "/etc/communegw/test.toml:6: driver.json_mapping.mapping: expected tables: write "
        "[[driver.json_mapping.mapping]] once per entry");
  CHECK(error_of(one_field + "unit = \"°C\"\n[[driver.json_mapping.mapping.field]]\npointer = \"/t\"\nmetric = "
                             "\"humidity\"\nunit = \"%\"\n") ==
        "/etc/communegw/test.toml:8: driver.json_mapping.mapping.field: \"/t\" is mapped twice in this mapping");
  CHECK(error_of("[driver.json_mapping]\n[[driver.json_mapping.mapping]]\ntopic = \"s/{device}\"\n"
                 "[[driver.json_mapping.mapping.field]]\npointer = \"/on\"\nmetric = \"lamp_on\"\nscale = 2.0\n") ==
        "/etc/communegw/test.toml:11: driver.json_mapping.mapping.field.scale: lamp_on is on/off: scale and offset do "
        "not apply");
  // Inline tables are TOML arrays of tables too.
  CHECK(error_of("[driver.json_mapping]\nmapping = [{topic = \"s/{device}\", field = [{pointer = \"/h\", metric = "
                 "\"humidity\", unit = \"%\"}]}]\n") == "(no error)");
}

TEST_CASE("json_mapping: scale and offset apply in the source unit, then the unit is converted") {
  const auto cfg = parse_config(minimal + "[driver.json_mapping]\n[[driver.json_mapping.mapping]]\ntopic = \"s/{device}\"\n"
                                          "[[driver.json_mapping.mapping.field]]\npointer = \"/t\"\nmetric = "
                                          "\"temperature\"\nunit = \"°F\"\nscale = 0.1\noffset = 32\n",
                                "/x.toml");
  const auto settings = std::find_if(cfg.drivers.begin(), cfg.drivers.end(), [](const auto& d) { return d.name == "json_mapping"; });
  auto driver = make_json_mapping_driver(*settings);
  // raw 450 → 450 × 0.1 + 32 = 77 °F → 25 °C
  const auto m = ok(driver->decode("s/x", R"({"t":450})"));
  REQUIRE(m.readings.size() == 1);
  CHECK(m.readings[0].value == doctest::Approx(25.0));
}

TEST_CASE("json_mapping: the commented-out example table in the example config loads once uncommented") {
  const auto example = example_config();
  const auto start = example.find("[driver.json_mapping]");
  REQUIRE(start != std::string::npos);
  std::istringstream lines(example.substr(start));
  std::string toml, line;
  while (std::getline(lines, line)) {
    // "# [[table]]" and "# key = value" are the example; "# # …" and "# (…)" explain it.
    if (line.rfind("# [[", 0) == 0 || (line.rfind("# ", 0) == 0 && line.find(" = ") != std::string::npos &&
                                       line.rfind("# #", 0) != 0)) {
      toml += line.substr(2) + "\n";
    } else if (line.rfind("#", 0) != 0) {
      toml += line + "\n";
    }
  }
  const auto cfg = parse_config(minimal + toml, "/x.toml");
  const auto settings = std::find_if(cfg.drivers.begin(), cfg.drivers.end(), [](const auto& d) { return d.name == "json_mapping"; });
  REQUIRE(settings != cfg.drivers.end());
  REQUIRE(settings->tables.at("mapping").size() == 1);
  const auto& mapping = settings->tables.at("mapping")[0];
  CHECK(mapping.texts.at("topic") == "sensors/{device}/telemetry");
  REQUIRE(mapping.tables.at("field").size() == 1);
  CHECK(mapping.tables.at("field")[0].numbers.at("max") == 60.0);
}
