// The shipped broker configuration (deploy/mosquitto/communegw.conf and
// communegw.acl), run by a real mosquitto exactly as shipped: only the ports,
// the file paths and the LAN interface (lo instead of eth0) are substituted.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include <mqtt/async_client.h>

#include "tests/support/harness.hpp"

using namespace communegw::test;
using namespace std::chrono_literals;

namespace {

// Replaces `from` (which must occur exactly once) with `to`: if the shipped
// file changes shape, this test must be looked at, not silently pass.
void substitute(std::string& text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, "not in the shipped config: " << from);
  REQUIRE_MESSAGE(text.find(from, at + 1) == std::string::npos, "more than once in the shipped config: " << from);
  text.replace(at, from.size(), to);
}

// One MQTT 3.1.1 client with a login; collects what it receives.
class client {
 public:
  client(const std::string& uri, const std::string& id) : client_(uri, id, mqtt::create_options(MQTTVERSION_3_1_1)) {
    client_.set_message_callback([this](mqtt::const_message_ptr message) {
      std::lock_guard lock(mutex_);
      received_.push_back(message->get_topic());
    });
  }
  ~client() {
    try {
      if (client_.is_connected()) client_.disconnect()->wait_for(scaled(500ms));
    } catch (const mqtt::exception&) {
    }
  }
  // Empty when connected, else why not.
  std::string connect(const std::string& user, const std::string& password) {
    mqtt::connect_options options;
    options.set_clean_session(true);
    options.set_connect_timeout(std::chrono::duration_cast<std::chrono::seconds>(scaled(3s)));
    if (!user.empty()) options.set_user_name(user);
    if (!password.empty()) options.set_password(password);
    try {
      client_.connect(options)->wait_for(scaled(5s));
      return client_.is_connected() ? "" : "not connected";
    } catch (const mqtt::exception& error) {
      return error.what();
    }
  }
  void subscribe(const std::string& filter) { REQUIRE(client_.subscribe(filter, 1)->wait_for(scaled(5s))); }
  // QoS 1: true once the broker acknowledged. mosquitto 2.0.11 acknowledges
  // a publish its ACL denies, drops it and then closes the connection (MQTT
  // 3.1.1 has no way to say "denied"), so a denied publish may also throw.
  bool publish(const std::string& topic) {
    try {
      return client_.publish(topic, std::string("{\"seq\":1}"), 1, false)->wait_for(scaled(5s));
    } catch (const mqtt::exception&) {
      return false;
    }
  }
  bool saw(const std::string& topic) {
    std::lock_guard lock(mutex_);
    return std::find(received_.begin(), received_.end(), topic) != received_.end();
  }

 private:
  mqtt::async_client client_;
  std::mutex mutex_;
  std::vector<std::string> received_;
};

}  // namespace

TEST_CASE(
    "the shipped broker config: no anonymous access, devices publish only under their own class, the gateway reads "
    "everything") {
  temp_dir dir;
  const auto passwd = (dir / "communegw.passwd").string();
  run_or_fail("mosquitto_passwd -b -c " + passwd + " communegw gw-Secret-1");
  run_or_fail("mosquitto_passwd -b " + passwd + " streetlight sl-Secret-2");
  run_or_fail("mosquitto_passwd -b " + passwd + " env env-Secret-3");
  write_file(dir / "communegw.acl", read_file(COMMUNEGW_SOURCE_DIR "/deploy/mosquitto/communegw.acl"));
  // mosquitto reads these after dropping root to its own user.
  run_or_fail("chmod -R a+rX " + dir.path().string());

  const int lan_port = free_port();
  mosquitto_broker broker(dir / "broker", [&](int port) {
    std::string shipped = read_file(COMMUNEGW_SOURCE_DIR "/deploy/mosquitto/communegw.conf");
    substitute(shipped, "listener 1883 127.0.0.1\n", "listener " + std::to_string(port) + " 127.0.0.1\n");
    substitute(shipped, "listener 1883\nbind_interface eth0\n",
               "listener " + std::to_string(lan_port) + "\nbind_interface lo\n");
    substitute(shipped, "/etc/mosquitto/conf.d/communegw.passwd", passwd);
    substitute(shipped, "/etc/mosquitto/conf.d/communegw.acl", (dir / "communegw.acl").string());
    // What Debian's /etc/mosquitto/mosquitto.conf sets before including conf.d/.
    return "persistence true\npersistence_location " + (dir / "broker").string() + "/\nlog_dest stdout\n" + shipped;
  });
  const std::string local = broker.uri();
  const std::string lan = "tcp://127.0.0.1:" + std::to_string(lan_port);

  SUBCASE("anonymous and wrong passwords are refused on both listeners") {
    client anonymous(local, "anon");
    CHECK_FALSE(anonymous.connect("", "").empty());
    client anonymous_lan(lan, "anon-lan");
    CHECK_FALSE(anonymous_lan.connect("", "").empty());
    client wrong(lan, "wrong");
    CHECK_FALSE(wrong.connect("streetlight", "guess").empty());
    client unknown(lan, "unknown");
    CHECK_FALSE(unknown.connect("intruder", "sl-Secret-2").empty());
  }

  SUBCASE(
      "a device cannot publish under another class; the gateway receives everything allowed and can publish nothing") {
    client gateway(local, "communegw-gw-test");
    REQUIRE(gateway.connect("communegw", "gw-Secret-1") == "");
    gateway.subscribe("#");
    client lamp(lan, "lamp-1");
    REQUIRE(lamp.connect("streetlight", "sl-Secret-2") == "");
    client station(lan, "env-1");
    REQUIRE(station.connect("env", "env-Secret-3") == "");

    // Each denied publish on a connection of its own (the broker closes it),
    // then an allowed marker published after the broker handled the denied
    // one: once the marker is in, the denied message is gone for good.
    for (const std::string topic :
         {"commune/c1/env/fake-env/telemetry", "zigbee2mqtt/fake-sensor", "tele/fake/SENSOR"}) {
      client intruder(lan, "lamp-2");
      REQUIRE(intruder.connect("streetlight", "sl-Secret-2") == "");
      intruder.publish(topic);
    }
    REQUIRE(lamp.publish("commune/c1/streetlight/l-1/status"));
    REQUIRE(wait_for([&] { return gateway.saw("commune/c1/streetlight/l-1/status"); }, 5s));
    CHECK_FALSE(gateway.saw("commune/c1/env/fake-env/telemetry"));
    CHECK_FALSE(gateway.saw("zigbee2mqtt/fake-sensor"));
    CHECK_FALSE(gateway.saw("tele/fake/SENSOR"));

    REQUIRE(station.publish("commune/c1/env/e-1/telemetry"));
    REQUIRE(station.publish("commune/c2/env/e-9/event"));
    CHECK(wait_for(
        [&] { return gateway.saw("commune/c1/env/e-1/telemetry") && gateway.saw("commune/c2/env/e-9/event"); }, 5s));

    // The gateway's login publishes nothing to devices.
    client device_listener(local, "listener");
    REQUIRE(device_listener.connect("communegw", "gw-Secret-1") == "");
    device_listener.subscribe("commune/#");
    gateway.publish("commune/c1/streetlight/l-1/command");  // denied: the broker then drops this connection
    REQUIRE(lamp.publish("commune/c1/streetlight/l-1/event"));
    REQUIRE(wait_for([&] { return device_listener.saw("commune/c1/streetlight/l-1/event"); }, 5s));
    CHECK_FALSE(device_listener.saw("commune/c1/streetlight/l-1/command"));
  }
}
