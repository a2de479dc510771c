#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "drivers/native/native_driver.hpp"

using namespace communegw;

namespace {

decode_result decode(std::string_view topic, std::string_view payload) {
  static const driver_settings settings{"native", true, {}};
  auto driver = make_native_driver(settings);
  return driver->decode(topic, payload);
}

decoded_message ok(const decode_result& result) {
  if (const auto* why = std::get_if<rejection>(&result)) FAIL("rejected: " << to_string(why->reason) << ": " << why->detail);
  return std::get<decoded_message>(result);  // a copy: callers pass temporaries
}

reject_reason reason(const decode_result& result) {
  REQUIRE(std::holds_alternative<rejection>(result));
  return std::get<rejection>(result).reason;
}

double value_of(const decoded_message& message, std::string_view metric) {
  for (const auto& r : message.readings) {
    if (r.metric->name == metric) return r.value;
  }
  FAIL("no reading " << metric);
  return 0;
}

bool has_reading(const decoded_message& message, std::string_view metric) {
  for (const auto& r : message.readings) {
    if (r.metric->name == metric) return true;
  }
  return false;
}

constexpr auto env_topic = "commune/xa-an-binh/env/env-07/telemetry";
constexpr auto light_topic = "commune/xa-an-binh/streetlight/sl-0042/status";
constexpr auto camera_topic = "commune/xa-an-binh/camera/cam-3/event";

}  // namespace

TEST_CASE("environment telemetry decodes every canonical metric with device time and sequence") {
  const auto m = ok(decode(env_topic,
                            R"({"v":1,"seq":991,"ts":"2026-11-23T18:05:00+07:00","pm2_5":35.5,"pm10":52,"temperature":27.25,
                                "humidity":81,"noise_level":54.5,"rainfall":0.2,"water_level":1.35})"));
  CHECK(m.device_id == "env-07");
  CHECK(m.kind == device_kind::environment);
  CHECK(m.sequence == 991);
  CHECK(m.device_time_ms == 1795431900000);  // 11:05:00Z
  CHECK(m.readings.size() == 7);
  CHECK(value_of(m, "pm2_5") == doctest::Approx(35.5));
  CHECK(value_of(m, "water_level") == doctest::Approx(1.35));
  CHECK(m.field_rejections.empty());
}

TEST_CASE("keys are read with their escapes resolved - the fast path for plain keys agrees") {
  const auto m = ok(decode(env_topic, R"({"pm2\u005f5":12.5,"a\"b":1,"pm10":20,"noise_level":40})"));
  CHECK(value_of(m, "pm2_5") == 12.5);  // "\u005f" is '_'
  CHECK(value_of(m, "pm10") == 20);     // after a key with an escaped quote
  CHECK(value_of(m, "noise_level") == 40);
  CHECK(m.readings.size() == 3);
  CHECK(reason(decode(env_topic, R"({"pm2_5":1,"bad\x":2})")) == reject_reason::malformed_json);  // an invalid escape
}

TEST_CASE("streetlight status: lamp state words, faults become events with severities") {
  const auto m = ok(decode(light_topic, R"({"seq":5,"ts":1795403100.5,"lamp_on":"ON","dim_level":70,"battery_voltage":12.8,
      "battery_soc":76,"pv_voltage":0,"pv_current":0,"pv_power":0,"load_power":18.5,"controller_temperature":31,
      "faults":["lamp_short_circuit","battery_low_voltage_disconnect","brand_new_code"]})"));
  CHECK(value_of(m, "lamp_on") == 1.0);
  CHECK(m.device_time_ms == 1795403100500);
  CHECK(m.readings.size() == 9);
  REQUIRE(m.events.size() == 3);
  CHECK(m.events[0].kind == "lamp_fault");
  CHECK(m.events[0].level == severity::alarm);
  CHECK(m.events[0].attributes_json == R"({"code":"lamp_short_circuit"})");
  CHECK(m.events[1].level == severity::warning);
  CHECK(m.events[2].attributes_json == R"({"code":"brand_new_code","known":false})");
  CHECK(m.events[0].start_ms == m.device_time_ms);  // ts came after nothing, faults before: still stamped
}

TEST_CASE("event time is filled from ts even when faults come first in the object") {
  const auto m = ok(decode(light_topic, R"({"faults":["lamp_open_circuit"],"ts":1795403100})"));
  REQUIRE(m.events.size() == 1);
  CHECK(m.events[0].start_ms == 1795403100000);
}

TEST_CASE("faults are edge-triggered per device: an event when a code appears, one when it clears") {
  auto driver = make_native_driver(driver_settings{"native", true, {}});
  auto events_of = [&](std::string_view device, std::string_view payload) {
    const auto result = driver->decode("commune/c/streetlight/" + std::string(device) + "/status", payload);
    REQUIRE(std::holds_alternative<decoded_message>(result));
    std::vector<std::string> out;
    for (const auto& ev : std::get<decoded_message>(result).events) out.push_back(ev.kind + " " + ev.attributes_json);
    return out;
  };
  CHECK(events_of("sl-1", R"({"faults":["lamp_open_circuit"]})") ==
        std::vector<std::string>{R"(lamp_fault {"code":"lamp_open_circuit"})"});
  CHECK(events_of("sl-1", R"({"faults":["lamp_open_circuit"]})").empty());  // still active: no news
  CHECK(events_of("sl-1", R"({"dim_level":50})").empty());                  // no "faults" key: no information
  CHECK(events_of("sl-2", R"({"faults":["lamp_open_circuit"]})").size() == 1);  // another lamp, its own state
  CHECK(events_of("sl-1", R"({"faults":["lamp_open_circuit","load_overcurrent"]})") ==
        std::vector<std::string>{R"(lamp_fault {"code":"load_overcurrent"})"});
  CHECK(events_of("sl-1", R"({"faults":["load_overcurrent"]})") ==
        std::vector<std::string>{R"(lamp_fault_cleared {"code":"lamp_open_circuit"})"});
  CHECK(events_of("sl-1", R"({"faults":[]})") == std::vector<std::string>{R"(lamp_fault_cleared {"code":"load_overcurrent"})"});
  // A rejected message changes nothing the driver remembers.
  CHECK(std::holds_alternative<rejection>(driver->decode("commune/c/streetlight/sl-1/status", R"({"faults":["x"],"seq":-1})")));
  CHECK(events_of("sl-1", R"({"faults":[]})").empty());
}

TEST_CASE("camera event carries zone, object class and count, snapshot as attributes") {
  const auto m = ok(decode(camera_topic, R"({"seq":1,"ts":1795403100,"event":"object","zone":"cổng trường",
      "object":{"class":"person","count":2},"start":1795403090,"end":1795403100,"snapshot":"snap/cam-3/1.jpg"})"));
  REQUIRE(m.events.size() == 1);
  CHECK(m.events[0].kind == "camera_object");
  CHECK(m.events[0].level == severity::info);
  CHECK(m.events[0].start_ms == 1795403090000);
  CHECK(m.events[0].end_ms == 1795403100000);
  CHECK(m.events[0].attributes_json ==
        R"({"zone":"cổng trường","object_class":"person","object_count":2,"snapshot":"snap/cam-3/1.jpg"})");
  CHECK(m.readings.empty());
}

TEST_CASE("tamper is an alarm unless the device says otherwise - camera-only events are refused elsewhere") {
  CHECK(ok(decode(camera_topic, R"({"event":"tamper"})")).events[0].level == severity::alarm);
  CHECK(ok(decode(camera_topic, R"({"event":"tamper","severity":"warning"})")).events[0].level == severity::warning);
  CHECK(ok(decode("commune/c/streetlight/sl-1/event", R"({"event":"door_open"})")).events[0].kind == "door_open");
  CHECK(reason(decode("commune/c/streetlight/sl-1/event", R"({"event":"motion"})")) == reject_reason::unknown_value);
  CHECK(reason(decode(camera_topic, R"({"event":"explosion"})")) == reject_reason::unknown_value);
  CHECK(reason(decode(camera_topic, R"({"zone":"x"})")) == reject_reason::missing_field);
  CHECK(reason(decode(camera_topic, R"({"event":"tamper","severity":"panic"})")) == reject_reason::unknown_value);
}

TEST_CASE("unknown means unknown: null, nan, None, n/a and absent keys produce no reading, never 0, and the words are counted") {
  const auto m = ok(decode(env_topic, R"({"pm2_5":null,"pm10":"nan","temperature":"None","humidity":"n/a","noise_level":"42.5"})"));
  CHECK_FALSE(has_reading(m, "pm2_5"));
  CHECK_FALSE(has_reading(m, "pm10"));
  CHECK_FALSE(has_reading(m, "temperature"));
  CHECK_FALSE(has_reading(m, "humidity"));
  CHECK(value_of(m, "noise_level") == doctest::Approx(42.5));  // a whole-number string is a number
  // null says nothing; "nan", "None", "n/a" say "no value", which is counted.
  REQUIRE(m.field_rejections.size() == 3);
  for (const auto& field : m.field_rejections) CHECK(field.reason == reject_reason::no_value);
}

TEST_CASE("a negative zero is stored as 0") {
  const auto m = ok(decode(env_topic, R"({"seq":-0,"temperature":-0.0,"rainfall":"-0"})"));
  CHECK(m.sequence == 0);
  CHECK_FALSE(std::signbit(value_of(m, "temperature")));
  CHECK_FALSE(std::signbit(value_of(m, "rainfall")));
}

TEST_CASE("bad values are refused one by one while the rest of the message is kept") {
  const auto m = ok(decode(env_topic, R"({"seq":3,"pm2_5":-5,"pm10":1e9,"temperature":"hot","humidity":"12abc","noise_level":true,"rainfall":2})"));
  CHECK(m.readings.size() == 1);
  CHECK(value_of(m, "rainfall") == 2);
  REQUIRE(m.field_rejections.size() == 5);
  CHECK(m.field_rejections[0].reason == reject_reason::out_of_range);
  CHECK(m.field_rejections[0].detail.find("pm2_5") != std::string::npos);
  CHECK(m.field_rejections[1].reason == reject_reason::out_of_range);
  CHECK(m.field_rejections[2].reason == reject_reason::wrong_type);
  CHECK(m.field_rejections[3].reason == reject_reason::wrong_type);
  CHECK(m.field_rejections[4].reason == reject_reason::wrong_type);
}

TEST_CASE("whole-message rejections have precise reasons") {
  CHECK(reason(decode(env_topic, "{\"pm2_5\": 12")) == reject_reason::malformed_json);
  CHECK(reason(decode(env_topic, "not json at all")) == reject_reason::malformed_json);
  CHECK(reason(decode(env_topic, R"({"pm2_5":1} {"pm2_5":2})")) == reject_reason::malformed_json);
  CHECK(reason(decode(env_topic, "[1,2,3]")) == reject_reason::wrong_type);
  CHECK(reason(decode(env_topic, "42")) == reject_reason::wrong_type);
  CHECK(reason(decode(env_topic, std::string("\xff\xfe\x00\x01garbage", 11))) == reject_reason::binary_payload);
  // Well-formed JSON around bytes that are not UTF-8, in a value and after the object.
  CHECK(reason(decode(env_topic, "{\"pm2_5\":1,\"note\":\"\xc3\x28\"}")) == reject_reason::binary_payload);
  CHECK(reason(decode(env_topic, "{\"pm2_5\":1} \xff")) == reject_reason::binary_payload);
  CHECK(reason(decode(env_topic, R"({"seq":-1})")) == reject_reason::wrong_type);
  CHECK(reason(decode(env_topic, R"({"seq":1.5})")) == reject_reason::wrong_type);
  CHECK(reason(decode(env_topic, R"({"v":2})")) == reject_reason::unknown_value);
  CHECK(reason(decode(env_topic, R"({"ts":"2026-11-23 18:05:00"})")) == reject_reason::bad_timestamp);
  CHECK(reason(decode(env_topic, R"({"ts":"yesterday"})")) == reject_reason::bad_timestamp);
  CHECK(reason(decode(env_topic, R"({"ts":-5})")) == reject_reason::bad_timestamp);
  CHECK(reason(decode(light_topic, R"({"faults":"lamp"})")) == reject_reason::wrong_type);
}

TEST_CASE("topics outside the native shape are unknown_topic") {
  for (const auto* topic : {"commune/c/env/env-1", "commune/c/env/env-1/telemetry/extra", "other/c/env/e/telemetry",
                            "commune/c/tractor/t-1/status", "commune/c/env/e-1/status", "commune/c/streetlight/s/telemetry",
                            "commune//env/e-1/telemetry", "commune/c/env//telemetry"}) {
    CAPTURE(topic);
    CHECK(reason(decode(topic, R"({"pm2_5":1})")) == reject_reason::unknown_topic);
  }
}

TEST_CASE("hostile input never crashes the decoder: random mutations of valid payloads") {
  // Deterministic: the same seed in every run, so a failure reproduces.
  std::mt19937 random(20261123);
  const std::vector<std::string> seeds = {
      R"({"v":1,"seq":991,"ts":"2026-11-23T18:05:00+07:00","pm2_5":35.5,"pm10":52,"temperature":27.25})",
      R"({"seq":5,"lamp_on":"on","dim_level":70,"faults":["lamp_short_circuit"]})",
      R"({"event":"object","zone":"z","object":{"class":"person","count":2},"start":1795403090})"};
  const char* topics[] = {env_topic, light_topic, camera_topic};
  auto driver = make_native_driver(driver_settings{"native", true, {}});
  std::size_t decoded = 0, rejected = 0;
  for (int i = 0; i < 30000; ++i) {
    const auto which = static_cast<std::size_t>(random() % 3);
    std::string payload = seeds[which];
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits && !payload.empty(); ++e) {
      const auto at = random() % payload.size();
      switch (random() % 4) {
        case 0: payload[at] = static_cast<char>(random() % 256); break;
        case 1: payload.erase(at, 1 + random() % 8); break;
        case 2: payload.insert(at, 1, "{}[]\",:\\0-e."[random() % 12]); break;
        default: payload.resize(at); break;
      }
    }
    const auto result = driver->decode(topics[which], payload);
    (std::holds_alternative<rejection>(result) ? rejected : decoded)++;
  }
  CHECK(decoded + rejected == 30000);
  CHECK(rejected > 1000);  // the mutations really did break things
}
