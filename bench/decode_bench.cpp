// Decode cost per message for each device driver: this sample demonstrates
// what one typical message costs a driver, without broker or store.
//
//   communegw-bench-decode [iterations [driver]]
//
// For each driver: a typical message (the fixture named below), decoded
// `iterations` times through one driver instance after a warm-up; the best
// of 5 rounds is reported as ns/msg (best, because other processes share the
// 2 cores). Instructions per message, which do not depend on the load:
// run one driver under callgrind at two counts and divide the difference in
// Ir by the difference in decodes (5.1 per iteration: 5 rounds + warm-up),
// as bench/README.md shows.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "drivers/epever/epever_driver.hpp"
#include "drivers/esphome/esphome_driver.hpp"
#include "drivers/frigate/frigate_driver.hpp"
#include "drivers/native/native_driver.hpp"
#include "drivers/tasmota/tasmota_driver.hpp"
#include "drivers/zigbee2mqtt/zigbee2mqtt_driver.hpp"

namespace {

using namespace communegw;

struct bench_case {
  const char* name;
  std::unique_ptr<driver> instance;
  std::vector<std::pair<std::string, std::string>> setup;  // messages that teach the driver (metadata)
  std::string topic;
  std::string payload;
};

double best_ns_per_message(bench_case& c, long iterations) {
  for (const auto& [topic, payload] : c.setup) c.instance->decode(topic, payload);
  std::size_t sink = 0;
  for (long i = 0; i < iterations / 10; ++i) sink += c.instance->decode(c.topic, c.payload).index();  // warm-up
  double best = 1e300;
  for (int round = 0; round < 5; ++round) {
    const auto start = std::chrono::steady_clock::now();
    for (long i = 0; i < iterations; ++i) sink += c.instance->decode(c.topic, c.payload).index();
    const std::chrono::duration<double, std::nano> elapsed = std::chrono::steady_clock::now() - start;
    best = std::min(best, elapsed.count() / static_cast<double>(iterations));
  }
  if (sink == 1) std::puts("");  // keeps the loop from being optimised away
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 200'000;
  driver_settings esphome_settings{"esphome", true, {"+/sensor/+/state", "+/status", "homeassistant/#"}};
  std::vector<bench_case> cases;
  cases.push_back({"native", make_native_driver({"native", true, {}}), {}, "commune/c/env/env-07/telemetry",
                   R"({"v":1,"seq":991,"ts":"2026-11-23T18:05:00+07:00","pm2_5":35.5,"pm10":52,"temperature":27.25,"humidity":81,"noise_level":54.5,"rainfall":0.2,"water_level":1.35})"});
  cases.push_back({"zigbee2mqtt", make_zigbee2mqtt_driver({"zigbee2mqtt", true, {"zigbee2mqtt/#"}}),
                   {{"zigbee2mqtt/bridge/devices",
                     R"([{"friendly_name":"Phòng họp/nhiệt độ","definition":{"exposes":[{"type":"numeric","property":"voltage","unit":"mV"},{"type":"numeric","property":"temperature","unit":"°C"}]}}])"}},
                   "zigbee2mqtt/Phòng họp/nhiệt độ",
                   R"({"battery":97,"humidity":81.2,"linkquality":132,"pressure":1008.6,"temperature":27.35,"voltage":2985,"last_seen":"2026-11-23T11:05:00.000Z"})"});
  cases.push_back({"tasmota", make_tasmota_driver({"tasmota", true, {"tele/+/+"}}), {}, "tele/tram-khi-tuong/SENSOR",
                   R"({"Time":"2026-11-23T18:05:00","BME280":{"Temperature":27.4,"Humidity":78.2,"DewPoint":23.2,"Pressure":1009.3},"SDS0X1":{"PM2.5":35.2,"PM10":51.7},"PressureUnit":"hPa","TempUnit":"C"})"});
  cases.push_back({"esphome", make_esphome_driver(esphome_settings),
                   {{"homeassistant/sensor/tram-xa/nhiet_do/config",
                     R"({"dev_cla":"temperature","unit_of_meas":"°C","stat_cla":"measurement","name":"Nhiệt độ","stat_t":"tram-xa/sensor/nhiet_do/state","avty_t":"tram-xa/status","uniq_id":"ESPsensornhiet_do"})"}},
                   "tram-xa/sensor/nhiet_do/state", "27.4"});
  // Frigate: a tracked-object update (before and after, as Frigate 0.14 sends it); EPEver2MQTT: the
  // JSON-mode DATA message of one controller. Both are fixtures, so the bench decodes what the tests check.
  const auto fixture = [](const char* path) {
    std::ifstream in(std::string(COMMUNEGW_SOURCE_DIR) + "/tests/data/" + path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    const auto all = text.str();
    const auto newline = all.find('\n');
    return std::pair{all.substr(0, newline), newline == std::string::npos ? std::string() : all.substr(newline + 1)};
  };
  const auto [frigate_topic, frigate_payload] = fixture("frigate/03_event_update_zone.txt");
  cases.push_back({"frigate", make_frigate_driver({"frigate", true, {"frigate/#"}}), {}, frigate_topic, frigate_payload});
  const auto [epever_topic, epever_payload] = fixture("epever/02_json_one_controller.txt");
  cases.push_back({"epever", make_epever_driver({"epever", true, {"EPEver/#"}}), {}, epever_topic, epever_payload});
  cases.push_back({"epever-value", make_epever_driver({"epever", true, {"EPEver/#"}}), {}, "EPEver/EP_1/LiveData/BATT_V", "12.84"});
  std::printf("%-12s %10s   (typical message, best of 5 rounds of %ld)\n", "driver", "ns/msg", iterations);
  const std::string only = argc > 2 ? argv[2] : "";
  for (auto& c : cases) {
    if (only.empty() || only == c.name) std::printf("%-12s %10.0f\n", c.name, best_ns_per_message(c, iterations));
  }
  return 0;
}
