#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "gateway/broker/broker_accounts.hpp"

using namespace communegw;

TEST_CASE("the ACL in deploy/mosquitto is the generated one for every account") {
  std::ifstream file(COMMUNEGW_SOURCE_DIR "/deploy/mosquitto/communegw.acl");
  std::stringstream text;
  text << file.rdbuf();
  CHECK_MESSAGE(text.str() == broker_acl(all_device_broker_users()),
                "regenerate it: communegw describe broker-acl > deploy/mosquitto/communegw.acl");
}

TEST_CASE("broker_acl: the gateway always, the chosen classes in table order, nothing else") {
  const auto acl = broker_acl({"env", "streetlight"});
  CHECK(acl.find("user communegw\ntopic read #\n") != std::string::npos);
  const auto streetlight = acl.find("user streetlight\ntopic write commune/+/streetlight/#\n");
  const auto env = acl.find("user env\ntopic write commune/+/env/#\n");
  REQUIRE(streetlight != std::string::npos);
  REQUIRE(env != std::string::npos);
  CHECK(streetlight < env);
  CHECK(acl.find("user camera") == std::string::npos);
  CHECK(acl.find("zigbee2mqtt") == std::string::npos);
  // No account may read or write everything except the gateway's read.
  for (const auto& account : device_broker_accounts()) {
    for (const auto& line : account.acl) CHECK_MESSAGE(line.find(" #") == std::string_view::npos, account.user);
  }
  CHECK(find_device_broker_account("tasmota") != nullptr);
  CHECK(find_device_broker_account("communegw") == nullptr);
}
