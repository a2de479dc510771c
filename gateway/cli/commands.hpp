#pragma once
// The CLI's commands. main.cpp parses arguments (CLI11 stays in that one
// translation unit: it is the slowest header to compile) and calls these.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gateway/config/config.hpp"

namespace communegw {

// `communegw run`: the gateway service. Returns the process exit status.
int run_gateway(const config& cfg);

// `communegw check`: one line per check with ok/warn/fail.
// Exit status: 0 all ok, 1 warnings only, 2 any failure.
int check_gateway(const config& cfg);
// `communegw check` when the configuration itself does not load: its one
// line, "fail config <file:line: key: message>", and exit status 2.
int check_failed_config(const std::string& error);

struct query_options {
  std::string what;  // readings | events | rejections | counters | devices | uplink | registry
  std::string device;
  std::string metric;
  std::string since;  // RFC 3339, or a duration meaning "that long ago"
  std::string until;
  std::int64_t limit = 100;
  std::string format = "table";  // table | json | csv
};

// `communegw query`: reads the store (read-only; safe while `run` is running).
int query_store(const config& cfg, const query_options& options);

struct central_options {
  std::string uri = "tcp://127.0.0.1:1883";
  std::string database = "central.db";
  std::string client_id = "communegw-central";
  std::string username, password, ca_file, cert_file, key_file;
  bool summary_only = false;
};

// `communegw central`: the reference centre-side receiver of the uplink
// (subscribes, stores each record once, detects gaps), or its summary.
int run_central(const central_options& options);

struct init_options {
  std::string config_path;  // the global --config: where the gateway config goes
  std::string gateway_id;
  std::string province;
  std::string commune;
  std::string central_url;       // central programme server (recorded for the uplink)
  std::string central_username;
  std::string central_password;
  std::vector<std::string> classes;  // broker accounts to create; empty: ask, or streetlight,env,camera
  std::string lan_interface = "eth0";
  std::string broker_dir = "/etc/mosquitto/conf.d";
  std::string lang;  // vi | en | empty: from $LANG
  bool force = false;
};

// `communegw init`: writes the config and the broker's password file, ACL and
// snippet, prints the generated passwords once, then runs `check`.
// Exit status: 0 written, 2 refused or invalid input (nothing written).
int init_gateway(init_options options);

// `communegw device import FILE.csv`: checks every row (file:line: column:
// message for each bad one) and, when all are valid, replaces the devices
// imported before. Exit status: 0 imported, 2 refused (nothing written).
int import_devices(const config& cfg, const std::filesystem::path& csv_file);

// `communegw describe config|metrics|drivers`: the generated reference texts.
int describe(const std::string& what);

}  // namespace communegw
