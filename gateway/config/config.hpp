#pragma once
// The gateway's configuration: one TOML file, validated once at start-up into
// typed settings. Components receive these structs and never parse strings.
//
// Every key is declared once in the option table (config.cpp). That table
// drives validation, defaults, `communegw describe config` and the example
// file config/communegw.example.toml (a test keeps the file equal to it).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "gateway/clock/clock.hpp"

namespace communegw {

// A configuration error: what() is "file:line: key: message".
class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct gateway_settings {
  std::string id;
  std::string province;
  std::string commune;
};

enum class mqtt_protocol { v3_1_1, v5 };

struct mqtt_settings {
  std::string uri;
  mqtt_protocol protocol = mqtt_protocol::v3_1_1;
  std::string client_id;
  std::string username;
  std::string password;  // from password_file, never from the main file
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::chrono::milliseconds keepalive{};
  std::chrono::milliseconds connect_timeout{};
  std::chrono::milliseconds reconnect_min{};
  std::chrono::milliseconds reconnect_max{};
  std::uint64_t max_payload = 0;
};

enum class startup_check { quick, full, off };

struct store_settings {
  std::filesystem::path path;
  std::uint64_t max_size = 0;
  std::uint64_t min_free_disk = 0;
  std::uint64_t emergency_reserve = 0;
  bool synchronous_full = false;
  std::uint64_t quarantine_rows = 0;
  std::uint64_t max_batch = 0;
  std::uint64_t max_uncommitted = 0;
  std::uint64_t dedupe_window = 100000;
  std::uint64_t gather_above = 5000;            // messages/s above which the writer gathers for each commit
  std::chrono::milliseconds commit_interval{};  // at most one commit per interval at low rates (0: at once)
  std::chrono::milliseconds sync_interval{};    // most time between fsyncs (WAL checkpoints)
  startup_check check = startup_check::quick;
};

struct clock_settings {
  clock_trust_mode trust = clock_trust_mode::automatic;
  int min_year = 2025;
};

struct log_settings {
  std::string level;
  std::chrono::milliseconds stats_interval{};
};

struct aggregate_settings {
  std::vector<std::chrono::milliseconds> periods;  // window lengths, each dividing a day
  std::chrono::minutes utc_offset{};                // windows align to local commune time
  std::chrono::milliseconds expected_period{};      // a device's usual reporting period, for completeness
  std::chrono::milliseconds close_delay{};          // wait after a window ends before it is final
  std::chrono::milliseconds incident_timeout{};     // an incident still open this long is counted and sent as it is
  std::chrono::milliseconds interval{};             // how often new samples are folded in
  std::chrono::milliseconds clock_wait{};           // how long untrusted-time samples wait for the clock
  std::chrono::minutes night_start{};               // local time of day the lamps should come on
  std::chrono::minutes night_end{};                 // … and go off (may be after midnight)
};

struct uplink_settings {
  bool enabled = false;
  mqtt_settings broker;  // the central broker (max_payload unused)
  std::vector<std::chrono::milliseconds> aggregate_periods;  // which aggregate periods are sent
  std::vector<std::string> raw_metrics;  // canonical metrics whose every reading is also sent (the raw stream)
  std::uint64_t batch_records = 0;
  std::uint64_t batch_bytes = 0;
  std::uint64_t max_inflight = 0;     // batches published and not yet acknowledged
  std::uint64_t max_rate = 0;         // bytes/s on the wire, 0: unlimited
  std::uint64_t monthly_budget = 0;   // bytes per calendar month (UTC), 0: unlimited
  std::chrono::milliseconds health_interval{};
};

// One table of a driver's table-list option ([[driver.<name>.<key>]]), its
// keys validated. Optional keys without a default are absent when not set.
struct driver_table {
  std::map<std::string, std::string, std::less<>> texts;  // text and choice keys
  std::map<std::string, double, std::less<>> numbers;
  std::map<std::string, std::vector<std::string>, std::less<>> lists;
  std::map<std::string, std::vector<driver_table>, std::less<>> tables;
  std::string source;  // "file:line" of the table's [[…]] header
};

class device_registry;

// One device of the registry ([[device]], or a row of an imported CSV;
// gateway/registry/device_registry.hpp, docs/devices.md).
struct registered_device {
  std::string id;      // as the gateway stores it (e.g. "tasmota/den-07", "z2m/cam-bien-dat-3")
  std::string kind;    // streetlight | environment | camera | gateway
  std::string name;    // display name
  std::string village; // village (thôn) or group
  std::optional<double> latitude, longitude;
  std::optional<double> road_length_m;             // a lamp: the length of road it lights
  std::chrono::milliseconds report_interval{};     // expected reporting interval; 0: not known
  // Metrics reported at another interval than report_interval (a station
  // sending PM2.5 every 5 minutes but rainfall hourly): metric -> interval.
  std::map<std::string, std::chrono::milliseconds, std::less<>> metric_intervals;
  std::string driver;                              // the driver it comes through; empty: any
  std::map<std::string, std::string, std::less<>> units;  // field -> unit, for fields whose unit is not announced
  std::string source;                              // "file:line" it was defined at
};

struct driver_settings {
  std::string name;
  bool enabled = true;
  std::vector<std::string> topics;
  // The driver's own options (declared in its descriptor), by key without the
  // "driver.<name>." prefix, already validated. Text and choice options are in
  // `texts`, lists in `lists`; every declared option is present (default or set).
  std::map<std::string, std::string, std::less<>> texts;
  std::map<std::string, std::vector<std::string>, std::less<>> lists;
  std::map<std::string, double, std::less<>> numbers;
  std::map<std::string, std::vector<driver_table>, std::less<>> tables;  // table-list options (empty: none set)
  // The device registry, set by ingest before the driver is made (never null
  // there; null in tests that make a driver without one). The driver may keep
  // the pointer: the registry outlives it.
  const device_registry* registry = nullptr;
};

struct config {
  std::filesystem::path source;
  gateway_settings gateway;
  mqtt_settings mqtt;
  store_settings store;
  clock_settings clock;
  log_settings log;
  aggregate_settings aggregate;
  uplink_settings uplink;
  std::vector<driver_settings> drivers;  // one per registered driver, in registry order
  std::vector<registered_device> devices;  // [[device]] tables
  // Problems that do not stop start-up (e.g. a secret readable by others);
  // `run` logs them, `check` shows them as warnings.
  std::vector<std::string> warnings;
};

// A secret (password) from its own file: the first line, trailing blanks
// removed. Throws config_error ("<source>: <key>: …") when the file cannot be
// read or is empty; adds a warning when other users can read it.
std::string read_secret_file(const std::filesystem::path& path, const std::filesystem::path& source,
                             std::string_view key, std::vector<std::string>& warnings);

// Throws config_error. Relative paths in the file are resolved against the
// file's directory, so a config and its state can move together.
config load_config(const std::filesystem::path& file);
config parse_config(std::string_view toml_text, const std::filesystem::path& source_name);

// The example configuration, every key explained in place; generated from the option table.
std::string example_config();

}  // namespace communegw
