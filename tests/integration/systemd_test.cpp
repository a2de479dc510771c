// `communegw run` under a stand-in for systemd: the test binds the notify
// socket, passes it in $NOTIFY_SOCKET with a short $WATCHDOG_USEC, and checks
// what the real binary reports over its life.
#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>

#include "tests/support/harness.hpp"
#include "tests/support/notify_listener.hpp"

using namespace communegw::test;
using namespace std::chrono_literals;

TEST_CASE("run under systemd: READY=1 after start, watchdog pings from the event loop, STOPPING=1 on SIGTERM") {
  temp_dir dir;
  mosquitto_broker broker(dir / "broker");
  notify_listener manager;
  // Inherited by the gateway child only; this process is one test case (ctest runs each alone).
  ::setenv("NOTIFY_SOCKET", manager.name().c_str(), 1);
  ::setenv("WATCHDOG_USEC", "400000", 1);  // pings every 200 ms
  ::unsetenv("WATCHDOG_PID");
  gateway_process gateway(dir / "gw", gateway_process::default_config(broker.uri(), dir / "gw" / "store.db"));
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");

  std::vector<std::string> seen;
  auto count_starting = [&](std::string_view prefix) {
    for (auto& datagram : manager.drain()) seen.push_back(std::move(datagram));
    return std::count_if(seen.begin(), seen.end(), [&](const std::string& d) { return d.starts_with(prefix); });
  };
  REQUIRE_MESSAGE(wait_for([&] { return count_starting("READY=1\n") == 1; }, 10s), gateway.log());
  CHECK(seen.front().find("STATUS=ingesting from " + broker.uri()) != std::string::npos);
  REQUIRE(wait_for([&] { return count_starting("WATCHDOG=1") >= 3; }, 5s));

  publisher device(broker.uri());
  REQUIRE(device.publish("commune/c/env/e-1/telemetry", R"({"seq":1,"pm2_5":12})"));
  REQUIRE(wait_for([&] { return count_starting("STATUS=stored 1 ") >= 1; }, 5s));

  const auto status = gateway.terminate(10s);
  REQUIRE(status.has_value());
  CHECK(*status == 0);
  count_starting("");
  CHECK(std::count_if(seen.begin(), seen.end(), [](const std::string& d) { return d.starts_with("STOPPING=1\n"); }) ==
        1);
  CHECK(seen.back().starts_with("STOPPING=1\n"));
}
