// Memory bounds of the running gateway under hostile payloads: a driver's
// parser kept the largest payload's memory for life, the ingest queue kept
// its largest buffers, and up to max_uncommitted large payloads could wait in
// it at once.
//
// Not in sanitizer builds: there ASan's allocator (its quarantine of freed
// memory, its shadow) is what RSS measures, not the gateway's.
#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include <fmt/format.h>

#include "tests/support/harness.hpp"

#if !defined(__SANITIZE_ADDRESS__)

using namespace communegw::test;
using namespace std::chrono_literals;

namespace {

// A field of /proc/<pid>/status, in kB (VmRSS, VmHWM).
std::int64_t status_kb(pid_t pid, const std::string& field) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
  }
  FAIL("no " << field << " in /proc/" << pid << "/status");
  return -1;
}

// As much JSON structure per byte as there can be: what makes a parser grow most.
std::string dense_json(std::size_t bytes) {
  std::string out = "{\"a\":[";
  while (out.size() + 4 < bytes) out += "0,";
  out += "0]}";
  return out;
}

}  // namespace

TEST_CASE("hostile payloads up to mqtt.max_payload = 16MiB raise the gateway's peak memory by at most 64 MB, and RSS "
          "returns to idle") {
  temp_dir dir;
  mosquitto_broker broker(dir / "broker");
  const auto db = dir / "gw" / "store.db";
  const std::string config = fmt::format(
      "[gateway]\nid = \"gw-test\"\nprovince = \"p\"\ncommune = \"c\"\n"
      "[mqtt]\nuri = \"{}\"\nmax_payload = \"16MiB\"\nreconnect_min = \"100ms\"\nreconnect_max = \"1s\"\n"
      "[store]\npath = \"{}\"\n"
      "[driver.zigbee2mqtt]\nenabled = true\n[driver.tasmota]\nenabled = true\n[driver.frigate]\nenabled = true\n"
      "[driver.epever]\nenabled = true\n[driver.chirpstack]\nenabled = true\n[driver.things_stack]\nenabled = true\n"
      "[driver.sparkplug]\nenabled = true\n",
      broker.uri(), db.string());
  gateway_process gateway(dir / "gw", config);
  publisher pub(broker.uri());
  int probes = 0;  // only names the probes apart
  REQUIRE(wait_for([&] {
    ++probes;
    pub.publish("commune/c/env/probe/telemetry", fmt::format(R"({{"seq":{},"humidity":50}})", probes));
    return store_count(db, "SELECT count(*) FROM messages") >= 1;
  }, 20s));
  std::this_thread::sleep_for(1s);  // let start-up allocations settle before the idle figure
  // Probes published before the gateway subscribed never reached it.
  const auto probes_received = store_count(db, "SELECT count(*) FROM messages");
  const auto idle_kb = status_kb(gateway.pid(), "VmRSS");

  const std::vector<std::string> topics{
      "commune/c/env/e-1/telemetry",        "zigbee2mqtt/cam-bien",
      "tele/den-cong/SENSOR",               "frigate/cong/person/snapshot",
      "EPEver/DATA",                        "application/1/device/0000000000000001/event/up",
      "v3/app@ttn/devices/dev-1/up",        "spBv1.0/xa/NDATA/tram-1"};
  std::string jpeg_like("\xFF\xD8\xFF\xE0", 4);
  jpeg_like.resize(16 * 1024 * 1024 - 64, '\x42');
  const std::vector<std::string> payloads{dense_json(4 * 1024 * 1024 - 1024),  // parsed: the parser's worst case
                                          std::string(16 * 1024 * 1024 - 64, '['),  // JSON too large to parse
                                          jpeg_like};                               // binary, 16 MiB
  int published = 0;
  for (const auto& payload : payloads) {
    for (const auto& topic : topics) {
      REQUIRE(pub.publish(topic, payload, 60s));
      ++published;
    }
  }
  REQUIRE(published == 24);
  // Every one is accounted for (rejected or ignored) once the counters are written.
  if (!wait_for([&] {
    std::int64_t outcomes = 0;
    for (const auto& [name, value] : store_counters(db)) {
      if (name.rfind("messages.", 0) == 0 || name == "duplicate_messages" || name == "retained_repeats") outcomes += value;
    }
    return outcomes >= probes_received + published;
  }, 120s)) {
    for (const auto& [name, value] : store_counters(db)) MESSAGE(name << " = " << value);
    MESSAGE(gateway.log());
    FAIL("not every message was accounted for");
  }
  const auto peak_kb = status_kb(gateway.pid(), "VmHWM");
  MESSAGE("RSS idle " << idle_kb / 1024 << " MiB, peak " << peak_kb / 1024 << " MiB");
  CHECK(peak_kb - idle_kb <= 64 * 1024);
  // Back to idle, but for one buffer: Paho C reads every packet into one
  // process-wide buffer that grows to the largest packet and is kept for the
  // process's life (SocketBuffer_getQueuedData); the rest is given back.
  std::int64_t after_kb = 0;
  const bool settled = wait_for([&] {
    after_kb = status_kb(gateway.pid(), "VmRSS");
    return after_kb - idle_kb <= 16 * 1024 + 4 * 1024;
  }, 10s);
  MESSAGE("RSS after " << after_kb / 1024 << " MiB");
  CHECK(settled);
  CHECK(gateway.terminate(30s) == 0);
}
#endif  // !__SANITIZE_ADDRESS__
