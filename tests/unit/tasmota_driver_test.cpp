#include <doctest/doctest.h>

#include "drivers/tasmota/tasmota_driver.hpp"
#include "tests/unit/driver_fixtures.hpp"

using namespace communegw;

namespace {

driver_settings tasmota_settings(std::string full_topic = "%prefix%/%topic%/", std::string kind = "environment") {
  driver_settings settings{"tasmota", true, {"tele/+/+"}};
  settings.texts["full_topic"] = std::move(full_topic);
  settings.texts["device_kind"] = std::move(kind);
  return settings;
}

using test::ok;

}  // namespace

TEST_CASE("tasmota fixtures decode to their expected results") {
  auto driver = make_tasmota_driver(tasmota_settings());
  const auto [normal, hostile] = test::check_driver_fixtures("tasmota", *driver);
  CHECK(normal >= 15);
  CHECK(hostile >= 15);
}

TEST_CASE("tasmota: a custom FullTopic puts the prefix anywhere") {
  auto driver = make_tasmota_driver(tasmota_settings("xa/%topic%/%prefix%/"));
  const auto m = ok(driver->decode("xa/den-cong/tele/STATE", R"({"POWER":"ON"})"));
  CHECK(m.device_id == "tasmota/den-cong");
  REQUIRE(m.readings.size() == 1);
  CHECK(m.readings[0].metric->name == "switch_on");
  CHECK(std::holds_alternative<rejection>(driver->decode("tele/den-cong/STATE", R"({"POWER":"ON"})")));
  CHECK(std::holds_alternative<rejection>(driver->decode("xb/den-cong/tele/STATE", R"({"POWER":"ON"})")));
  CHECK(ok(driver->decode("xa/den-cong/tele/LWT", "Offline")).reported_availability == availability::offline);
}

TEST_CASE("tasmota: several FullTopic patterns at once - the first that fits reads the topic") {
  auto settings = tasmota_settings();
  settings.lists["other_full_topics"] = {"xa/%topic%/%prefix%/", "%prefix%/thon-3/%hostname%/"};
  auto driver = make_tasmota_driver(settings);
  CHECK(ok(driver->decode("tele/den-cong/STATE", R"({"POWER":"ON"})")).device_id == "tasmota/den-cong");
  CHECK(ok(driver->decode("xa/den-08/tele/STATE", R"({"POWER":"ON"})")).device_id == "tasmota/den-08");
  CHECK(ok(driver->decode("tele/thon-3/tasmota-5C8A3F/SENSOR", R"({"AM2301":{"Temperature":29.5}})")).device_id ==
        "tasmota/tasmota-5C8A3F");
  // Fits none: refused with why the first pattern did not fit.
  const auto none = driver->decode("xb/den-08/tele/STATE", R"({"POWER":"ON"})");
  REQUIRE(std::holds_alternative<rejection>(none));
  CHECK(std::get<rejection>(none).reason == reject_reason::unknown_topic);
  CHECK(std::get<rejection>(none).detail == "topic does not have the levels of driver.tasmota.full_topic plus one");
  // A command result under any pattern is not telemetry.
  CHECK(std::holds_alternative<rejection>(driver->decode("xa/den-08/stat/RESULT", R"({"POWER":"ON"})")));
}

TEST_CASE("tasmota: relays of a streetlight board are lamps") {
  auto driver = make_tasmota_driver(tasmota_settings("%prefix%/%topic%/", "streetlight"));
  const auto m = ok(driver->decode("tele/den-duong-3/STATE", R"({"POWER":"ON","Dimmer":70})"));
  CHECK(m.kind == device_kind::streetlight);
  REQUIRE(m.readings.size() == 2);
  CHECK(m.readings[0].metric->name == "lamp_on");
}

TEST_CASE("tasmota: Time (local, no offset) is device time only with time_offset - 1970 before NTP comes through to be flagged") {
  auto without = make_tasmota_driver(tasmota_settings());
  CHECK_FALSE(ok(without->decode("tele/t/SENSOR", R"({"Time":"2026-11-23T18:05:00","SDS0X1":{"PM2.5":1}})")).device_time_ms);
  auto settings = tasmota_settings();
  settings.texts["time_offset"] = "+07:00";
  auto with = make_tasmota_driver(settings);
  const auto m = ok(with->decode("tele/t/SENSOR", R"({"Time":"2026-11-23T18:05:00","SDS0X1":{"PM2.5":1}})"));
  CHECK(m.device_time_ms == 1'795'431'900'000);  // 11:05:00 UTC
  CHECK(m.readings.size() == 1);
  CHECK(ok(with->decode("tele/t/STATE", R"({"Time":"1970-01-01T00:00:09","UptimeSec":9})")).device_time_ms == 9'000 - 7 * 3'600'000);
  // A Time the driver cannot read loses only the time, not the readings.
  const auto bad = ok(with->decode("tele/t/SENSOR", R"({"Time":"yesterday","SDS0X1":{"PM2.5":1}})"));
  CHECK_FALSE(bad.device_time_ms);
  CHECK(bad.readings.size() == 1);
  REQUIRE(bad.field_rejections.size() == 1);
  CHECK(bad.field_rejections[0].reason == reject_reason::bad_timestamp);
  CHECK(check_tasmota_time_offset("").empty());
  CHECK(check_tasmota_time_offset("-03:30").empty());
  CHECK_FALSE(check_tasmota_time_offset("7").empty());
  CHECK_FALSE(check_tasmota_time_offset("+07:60").empty());
  CHECK_FALSE(check_tasmota_time_offset("+25:00").empty());
}

TEST_CASE("tasmota: the FullTopic check names what is wrong") {
  CHECK(check_tasmota_full_topic("%prefix%/%topic%/").empty());
  CHECK(check_tasmota_full_topic("xa/%hostname%/%prefix%").empty());
  CHECK(check_tasmota_full_topic("%topic%/") == "\"%topic%\" must hold %prefix% once and one of %topic%, %hostname%, %id% once");
  CHECK(check_tasmota_full_topic("%prefix%/+/%topic%") ==
        "\"%prefix%/+/%topic%\": level \"+\" must be %prefix%, %topic%, %hostname%, %id% or a plain word");
}
