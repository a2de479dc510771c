// The gateway's process-wide Paho settings (gateway/mqtt/paho_process.hpp),
// observed through Paho's trace callback while a client talks to a real broker.
#include <doctest/doctest.h>

#include <MQTTAsync.h>

#include <atomic>
#include <cstdlib>

#include "gateway/mqtt/paho_process.hpp"
#include "tests/support/harness.hpp"

using namespace communegw::test;

namespace {

// Paho's trace callback takes no context pointer, hence file-scope counters.
std::atomic<int> below_error_entries{0};
std::atomic<int> protocol_entries{0};

void count_trace_entry(enum MQTTASYNC_TRACE_LEVELS level, char*) {
  if (level < MQTTASYNC_TRACE_ERROR) below_error_entries.fetch_add(1);
  if (level == MQTTASYNC_TRACE_PROTOCOL) protocol_entries.fetch_add(1);
}

// Counts what one QoS 1 message and its PUBACK leave in the trace. Counting
// starts after the client connected: Paho hands its start-up banner (version,
// OpenSSL) to the callback whatever the level.
void publish_one(const mosquitto_broker& broker) {
  publisher pub(broker.uri());
  below_error_entries = 0;
  protocol_entries = 0;
  REQUIRE(pub.publish("commune/c/env/trace-probe/telemetry", R"({"seq":1,"pm2_5":3})"));
}

}  // namespace

TEST_CASE("Paho keeps no trace below errors under the gateway's settings - unless Paho's trace is asked for") {
  temp_dir dir;
  mosquitto_broker broker(dir / "broker");
  MQTTAsync_setTraceCallback(count_trace_entry);
  // Paho's default level, whatever an earlier test in this process did.
  MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_MINIMUM);

  SUBCASE("MQTT_C_CLIENT_TRACE set: Paho's own settings stay, and the trace reaches its file") {
    const auto trace_file = dir / "paho-trace.txt";
    REQUIRE(::setenv("MQTT_C_CLIENT_TRACE", trace_file.c_str(), 1) == 0);
    CHECK(communegw::paho::trace_requested());
    communegw::paho::configure_process();
    publish_one(broker);
    ::unsetenv("MQTT_C_CLIENT_TRACE");
    CHECK(protocol_entries > 0);                    // the PUBLISH and PUBACK lines
    CHECK(below_error_entries > protocol_entries);  // function entries too
    CHECK(read_file(trace_file).find("PUBLISH") != std::string::npos);
  }
  SUBCASE("the gateway's settings: nothing below errors is formatted or kept") {
    ::unsetenv("MQTT_C_CLIENT_TRACE");
    CHECK_FALSE(communegw::paho::trace_requested());
    communegw::paho::configure_process();
    publish_one(broker);
    CHECK(protocol_entries == 0);
    CHECK(below_error_entries == 0);
  }
  MQTTAsync_setTraceCallback(nullptr);
}
