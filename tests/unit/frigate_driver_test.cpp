#include <doctest/doctest.h>

#include "drivers/frigate/frigate_driver.hpp"
#include "tests/unit/driver_fixtures.hpp"

using namespace communegw;

namespace {

driver_settings frigate_settings(std::vector<std::string> topics = {"frigate/#"}) {
  driver_settings settings{"frigate", true, std::move(topics)};
  settings.texts["alert_severity"] = "warning";
  settings.texts["object_severity"] = "info";
  return settings;
}

using test::ok;

std::string tracked(std::string_view type, std::string_view camera, std::string_view extra) {
  return fmt::format(R"({{"type":"{}","after":{{"id":"1795431890.1-aa","camera":"{}","label":"person","start_time":1795431890.1{}}}}})",
                     type, camera, extra);
}

}  // namespace

TEST_CASE("frigate fixtures decode to their expected results") {
  auto driver = make_frigate_driver(frigate_settings());
  const auto [normal, hostile] = test::check_driver_fixtures("frigate", *driver);
  CHECK(normal >= 20);
  CHECK(hostile >= 20);
}

TEST_CASE("frigate: new, update and end of one tracked object share one incident key - only end closes it") {
  auto driver = make_frigate_driver(frigate_settings());
  const auto first = ok(driver->decode("frigate/events", tracked("new", "gate", "")));
  const auto update = ok(driver->decode("frigate/events", tracked("update", "gate", R"(,"entered_zones":["yard"])")));
  const auto last = ok(driver->decode("frigate/events", tracked("end", "gate", R"(,"end_time":1795431899.5)")));
  REQUIRE(first.events.size() == 1);
  REQUIRE(update.events.size() == 1);
  REQUIRE(last.events.size() == 1);
  CHECK(first.events[0].incident == "object:1795431890.1-aa");
  CHECK(update.events[0].incident == first.events[0].incident);
  CHECK(last.events[0].incident == first.events[0].incident);
  CHECK_FALSE(first.events[0].closed);
  CHECK_FALSE(update.events[0].closed);
  CHECK(last.events[0].closed);
  CHECK(last.events[0].end_ms == 1795431899500);
}

TEST_CASE("frigate: the prefix comes from the filters - several Frigate servers keep their cameras apart") {
  auto driver = make_frigate_driver(frigate_settings({"frigate/#", "nvr-xa/frigate/#"}));
  CHECK(ok(driver->decode("nvr-xa/frigate/events", tracked("new", "gate", ""))).device_id == "nvr-xa/frigate/gate");
  CHECK(ok(driver->decode("frigate/events", tracked("new", "gate", ""))).device_id == "frigate/gate");
  CHECK(ok(driver->decode("nvr-xa/frigate/available", "online")).device_id == "nvr-xa/frigate");
  const auto outside = driver->decode("other/events", tracked("new", "gate", ""));
  REQUIRE(std::holds_alternative<rejection>(outside));
  CHECK(std::get<rejection>(outside).reason == reject_reason::unknown_topic);
}

TEST_CASE("frigate: alert and object severities are options") {
  auto settings = frigate_settings();
  settings.texts["alert_severity"] = "alarm";
  settings.texts["object_severity"] = "warning";
  auto driver = make_frigate_driver(settings);
  const auto object = ok(driver->decode("frigate/events", tracked("new", "gate", "")));
  REQUIRE(object.events.size() == 1);
  CHECK(object.events[0].level == severity::warning);
  const auto alert = ok(driver->decode(
      "frigate/reviews", R"({"type":"new","after":{"id":"r1","camera":"gate","start_time":1795431890,"severity":"alert","data":{"objects":["person"]}}})"));
  REQUIRE(alert.events.size() == 1);
  CHECK(alert.events[0].level == severity::alarm);
  CHECK(alert.events[0].incident == "review:r1");
}

TEST_CASE("frigate: a snapshot event keeps the size and where the image is, never the image") {
  auto driver = make_frigate_driver(frigate_settings());
  std::string jpeg("\xFF\xD8\xFF\xE0", 4);
  jpeg += std::string(50'000, '\x42');
  jpeg += "\xFF\xD9";  // the end marker
  const auto m = ok(driver->decode("frigate/gate/car/snapshot", jpeg));
  REQUIRE(m.events.size() == 1);
  CHECK(m.events[0].attributes_json == R"({"object_class":"car","bytes":50006,"snapshot":"frigate/gate/car/snapshot"})");
  CHECK(m.events[0].attributes_json.find('\x42') == std::string::npos);
}

TEST_CASE("frigate: a snapshot without its JPEG end marker is refused as truncated, zero padding after it is allowed") {
  auto driver = make_frigate_driver(frigate_settings());
  std::string jpeg("\xFF\xD8\xFF\xE0", 4);
  jpeg += std::string(2'000, '\x42');
  const auto cut = driver->decode("frigate/gate/car/snapshot", jpeg);
  REQUIRE(std::holds_alternative<rejection>(cut));
  CHECK(std::get<rejection>(cut).reason == reject_reason::truncated);
  CHECK_FALSE(std::get<rejection>(cut).keep_excerpt);  // image bytes never reach the quarantine
  // Cut right after an FF: still no end marker.
  CHECK(std::holds_alternative<rejection>(driver->decode("frigate/gate/car/snapshot", jpeg + "\xFF")));
  jpeg += "\xFF\xD9";
  CHECK(ok(driver->decode("frigate/gate/car/snapshot", jpeg)).events.size() == 1);
  CHECK(ok(driver->decode("frigate/gate/car/snapshot", jpeg + std::string(3, '\0'))).events.size() == 1);
}
