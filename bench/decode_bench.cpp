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
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/epever/epever_driver.hpp"
#include "drivers/esphome/esphome_driver.hpp"
#include "drivers/frigate/frigate_driver.hpp"
#include "drivers/json_mapping/json_mapping_driver.hpp"
#include "drivers/lorawan/chirpstack_driver.hpp"
#include "drivers/lorawan/things_stack_driver.hpp"
#include "drivers/native/native_driver.hpp"
#include "drivers/sparkplug/sparkplug_driver.hpp"
#include "drivers/tasmota/tasmota_driver.hpp"
#include "drivers/zigbee2mqtt/zigbee2mqtt_driver.hpp"
#include "gateway/config/config.hpp"
#include "tests/support/fixture_files.hpp"
#include "tests/support/sparkplug_payload.hpp"

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

// Drivers configured in TOML get their settings the way the gateway does.
driver_settings configured(std::string_view name, const std::string& section) {
  const auto cfg = parse_config("[gateway]\nid = \"bench\"\nprovince = \"p\"\ncommune = \"c\"\n" + section, "bench.toml");
  for (const auto& settings : cfg.drivers) {
    if (settings.name == name) return settings;
  }
  std::abort();
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 200'000;
  if (argc > 1) {
    const std::string_view text = argv[1];
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), iterations);
    if (error != std::errc() || end != text.data() + text.size() || iterations < 1 || argc > 3) {
      std::fprintf(stderr, "usage: communegw-bench-decode [iterations (a positive integer) [driver]]\n");
      return 2;
    }
  }
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
    std::ifstream in(std::filesystem::path(COMMUNEGW_SOURCE_DIR) / "tests" / "data" / path, std::ios::binary);
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
  // LoRaWAN: a NAS UL2030 streetlight status uplink as ChirpStack publishes it
  // (tests/data/chirpstack/03_up_nas_ul2030_status.txt), built-in codec names.
  cases.push_back({"chirpstack", make_chirpstack_driver(configured("chirpstack", "[driver.chirpstack]\ndevice_kind = \"streetlight\"\n")),
                   {}, "application/0b4d7c6e-2a5f-4c31-9d1e-7f3a6c2b8e10/device/24e124128c147204/event/up",
                   R"({"deduplicationId":"3a2d5c8e-6f41-4b9a-9e0c-1d7f2b5a8c63","time":"2026-11-23T11:05:00.118907Z","deviceInfo":{"tenantId":"52f14cd4-c6f1-4fbd-8f87-4025e1d49242","tenantName":"Xa Phong Quang","applicationId":"0b4d7c6e-2a5f-4c31-9d1e-7f3a6c2b8e10","applicationName":"den-duong-va-moi-truong","deviceProfileId":"5a2c1f37-9b44-4e3c-a4f5-0d6f8e7c1b22","deviceProfileName":"NAS UL2030","deviceName":"aq-truong-hoc","devEui":"24e124128c147204","deviceClassEnabled":"CLASS_A","tags":{"thon":"Thon 3"}},"devAddr":"00e4a1b7","adr":true,"dr":3,"fCnt":5121,"fPort":23,"confirmed":false,"data":"AfN/IF6CRDIJFiAHAdICA==","object":{"packet_type":"status_packet","device_unix_epoch":"2026-11-23T11:04:58.000Z","status":{"dali_connection_error":false,"metering_com_error":false,"ext_rtc_warning":false,"internal_relay_closed":true,"open_drain_output_on":false,"lumalink_connected":false,"lumalink_connected_after_boot":false},"downlink_rssi__dBm":-91,"downlink_snr__dB":6,"mcu_temperature__C":38,"active_alerts":{"voltage_alert_in_24h":false,"lamp_error_alert_in_24h":false,"power_alert_in_24h":false,"power_factor_alert_in_24h":false},"sensor_source":{"ldr_input":210,"light_sensor__lx":"2.4","dig_input_1_on":false},"dimming_source":[{"address":"dali_broadcast","reason":"calendar_dusk_step_0","dimming_level__percent":70,"status":{"driver_error":false,"lamp_failure":false,"lamp_on":true,"limit_error":false,"fade_running":false,"reset_state":false,"missing_short_address":false,"power_failure":false}},{"address":"dali_single_9","reason":"calendar_dusk_step_0","dimming_level__percent":70,"status":{"driver_error":false,"lamp_failure":false,"lamp_on":true,"limit_error":false,"fade_running":false,"reset_state":false,"missing_short_address":false,"power_failure":false}}]},"rxInfo":[{"gatewayId":"0016c001f153a100","uplinkId":4217,"gwTime":"2026-11-23T11:05:00.094512Z","nsTime":"2026-11-23T11:05:00.118907312Z","timeSinceGpsEpoch":"1447844718.094s","rssi":-97,"snr":4.5,"channel":2,"location":{"latitude":22.8233,"longitude":104.9784},"context":"xwx0GQ==","crcStatus":"CRC_OK"},{"gatewayId":"0016c001f153a101","uplinkId":4218,"gwTime":"2026-11-23T11:05:00.094512Z","nsTime":"2026-11-23T11:05:00.118907312Z","timeSinceGpsEpoch":"1447844718.094s","rssi":-110,"snr":7.25,"channel":2,"location":{"latitude":22.8233,"longitude":104.9784},"context":"xwx0GQ==","crcStatus":"CRC_OK"}],"txInfo":{"frequency":923200000,"modulation":{"lora":{"bandwidth":125000,"spreadingFactor":9,"codeRate":"CR_4_5"}}}})"});
  // An air-quality uplink as The Things Stack publishes it (tests/data/things_stack/01_up_air_quality.txt).
  cases.push_back({"things_stack", make_things_stack_driver(configured("things_stack", "[driver.things_stack]\n")), {},
                   "v3/moi-truong-xa@ttn/devices/aq-cho/up",
                   R"({"end_device_ids":{"device_id":"aq-cho","application_ids":{"application_id":"moi-truong-xa"},"dev_eui":"A8404194A1875FF3","join_eui":"0000000000000000","dev_addr":"260BE6BF"},"correlation_ids":["as:up:01HD3ZQ6N0G5V7E6Q3RZ2X8K9M"],"received_at":"2026-11-23T11:05:00.870542824Z","uplink_message":{"session_key_id":"AYiJ3o1qkgXVjZ8yX0u3mA==","f_port":2,"f_cnt":58,"frm_payload":"DTgAAAAAC8MAABA=","decoded_payload":{"temperature":27.4,"humidity":81,"pm2_5":35.5,"pm10":51,"battery":92},"rx_metadata":[{"gateway_ids":{"gateway_id":"eui-a84041ffff24a400","eui":"A84041FFFF24A400"},"time":"2026-11-23T11:05:00.621391Z","timestamp":1010590159,"channel_index":5,"received_at":"2026-11-23T11:05:00.549107273Z","rssi":-80,"channel_rssi":-80},{"gateway_ids":{"gateway_id":"eui-a84041ffff24a401","eui":"A84041FFFF24A401"},"time":"2026-11-23T11:05:00.621391Z","timestamp":1010590159,"channel_index":5,"received_at":"2026-11-23T11:05:00.549107273Z","rssi":-101,"channel_rssi":-101,"snr":3.2}],"settings":{"data_rate":{"lora":{"bandwidth":125000,"spreading_factor":12,"coding_rate":"4/5"}},"frequency":"923200000","timestamp":1010590159},"received_at":"2026-11-23T11:05:00.656299995Z","consumed_airtime":"1.482752s","network_ids":{"net_id":"000013","tenant_id":"ttn","cluster_id":"au1","cluster_address":"au1.cloud.thethings.network"}}})"});
  // A made-up environment node mapped field by field (tests/data/json_mapping/01_env_full.txt).
  cases.push_back({"json_mapping",
                   make_json_mapping_driver(configured("json_mapping",
                                                       "[driver.json_mapping]\n[[driver.json_mapping.mapping]]\n"
                                                       "topic = \"sensors/{device}/telemetry\"\ntime = \"/ts\"\n"
                                                       "time_format = \"epoch_s\"\nsequence = \"/seq\"\n"
                                                       "field = [{pointer = \"/temp\", metric = \"temperature\", unit = \"°F\"},\n"
                                                       "  {pointer = \"/hum\", metric = \"humidity\", unit = \"%\"},\n"
                                                       "  {pointer = \"/pm/pm2_5\", metric = \"pm2_5\", unit = \"µg/m³\"},\n"
                                                       "  {pointer = \"/pm/pm10\", metric = \"pm10\", unit = \"µg/m³\"},\n"
                                                       "  {pointer = \"/batt_mv\", metric = \"battery_voltage\", unit = \"mV\"},\n"
                                                       "  {pointer = \"/rain_tips\", metric = \"rainfall\", unit = \"mm\", scale = 0.2},\n"
                                                       "  {pointer = \"/soil_raw\", metric = \"soil_moisture\", unit = \"%\", scale = 0.1},\n"
                                                       "  {pointer = \"/data/0/level\", metric = \"water_level\", unit = \"cm\"},\n"
                                                       "  {pointer = \"/pressure~1hPa\", metric = \"pressure\", unit = \"hPa\"}]\n")),
                   {}, "sensors/tram-xa/telemetry",
                   R"({"ts":1795431900,"seq":101,"temp":80.6,"hum":78.5,"pm":{"pm2_5":"35.2","pm10":52},"batt_mv":3712,"rain_tips":3,"soil_raw":412,"data":[{"level":135}],"pressure/hPa":1008.2})"});
  // Sparkplug B: an edge node's NDATA of 3 metrics by alias (tests/data/sparkplug/05_ndata_by_alias.txt),
  // after its NBIRTH (02) defined the aliases; the fixtures' mapping (driver.toml).
  {
    const auto sparkplug_settings =
        configured("sparkplug", test::fixture_driver_config(COMMUNEGW_SOURCE_DIR, "sparkplug"));
    const auto [birth_topic, birth_text] = fixture("sparkplug/02_nbirth_node.txt");
    const auto [data_topic, data_text] = fixture("sparkplug/05_ndata_by_alias.txt");
    cases.push_back({"sparkplug", make_sparkplug_driver(sparkplug_settings),
                     {{birth_topic, test::encode_sparkplug_fixture(birth_text)}}, data_topic,
                     test::encode_sparkplug_fixture(data_text)});
  }
  const std::string only = argc > 2 ? argv[2] : "";
  if (!only.empty() && std::none_of(cases.begin(), cases.end(), [&](const bench_case& c) { return only == c.name; })) {
    std::fprintf(stderr, "communegw-bench-decode: no driver case named \"%s\"; there are:", only.c_str());
    for (const auto& c : cases) std::fprintf(stderr, " %s", c.name);
    std::fprintf(stderr, "\n");
    return 2;
  }
  std::printf("%-12s %10s   (typical message, best of 5 rounds of %ld)\n", "driver", "ns/msg", iterations);
  for (auto& c : cases) {
    if (only.empty() || only == c.name) std::printf("%-12s %10.0f\n", c.name, best_ns_per_message(c, iterations));
  }
  return 0;
}
