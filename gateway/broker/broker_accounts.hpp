#pragma once
// The commune broker's accounts: who may log in to the local mosquitto and
// what each may publish or read. Declared once here; `communegw init` writes
// the ACL and password file from it, `communegw describe broker-acl` prints
// it, and deploy/mosquitto/communegw.acl is its output for every class (a unit
// test keeps the two equal).
//
// One user per device class (all streetlights share one login, and so on) or
// per third-party bridge: a leaked device password then exposes one class's
// topics, never the whole commune, and there are few secrets to manage.

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace communegw {

struct broker_account {
  std::string_view user;     // mosquitto username; also the name `init --classes` takes
  std::string_view summary;  // English, one line
  std::string_view summary_vi;
  std::vector<std::string_view> acl;  // mosquitto ACL lines: "topic write commune/+/streetlight/#"
};

// The gateway's own login: reads everything, publishes nothing to devices.
const broker_account& gateway_broker_account();
// Device classes and bridges, in a fixed order.
std::span<const broker_account> device_broker_accounts();
// nullptr if unknown.
const broker_account* find_device_broker_account(std::string_view user);

// The mosquitto ACL file for the gateway plus these device accounts (names
// from device_broker_accounts(); unknown names are the caller's error).
std::string broker_acl(const std::vector<std::string>& users);
std::vector<std::string> all_device_broker_users();

}  // namespace communegw
