#include "gateway/config/config.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <variant>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "drivers/registry.hpp"
#include "gateway/config/quantity.hpp"
#include "gateway/model/metric_catalogue.hpp"
#include "gateway/registry/device_registry.hpp"

namespace communegw {
namespace {

enum class value_kind { string, identifier, integer, boolean, duration, size, choice, string_list, path, number, table_list };

struct option_spec {
  std::string key;            // dotted: "store.max_size"
  value_kind kind;
  std::string default_text;   // TOML literal; empty means "no default"
  std::string description;
  bool required = false;      // required keys show `example_text` in the example file
  std::string example_text;
  std::vector<std::string> choices;
  std::uint64_t min = 0;      // integer value, duration in ms, size in bytes
  std::uint64_t max = UINT64_MAX;
  std::string (*check)(std::string_view value) = nullptr;  // extra check of a text value or list item
  const driver_option* driver_declared = nullptr;          // a driver's option: its table members, table check
};

using option_value = std::variant<std::string, std::int64_t, bool, std::chrono::milliseconds, std::uint64_t,
                                  std::vector<std::string>, double, std::vector<driver_table>>;

// A driver's option (or a member of one of its tables) as an option_spec, so
// one validate() serves both.
option_spec spec_of_driver_option(std::string key, const driver_option& option) {
  option_spec spec{std::move(key),
                   option.kind == driver_option_kind::text_list    ? value_kind::string_list
                   : option.kind == driver_option_kind::choice     ? value_kind::choice
                   : option.kind == driver_option_kind::number     ? value_kind::number
                   : option.kind == driver_option_kind::table_list ? value_kind::table_list
                                                                   : value_kind::string,
                   option.kind == driver_option_kind::table_list && option.default_text.empty()
                       ? std::string("[]")
                       : std::string(option.default_text),
                   std::string(option.description)};
  spec.required = option.required;
  spec.example_text = std::string(option.example_text);
  for (const auto choice : option.choices) spec.choices.emplace_back(choice);
  spec.check = option.check;
  spec.driver_declared = &option;
  return spec;
}

// ---- [[device]]: the device registry (gateway/registry/device_registry.hpp) ----

std::string check_interval_text(std::string_view value) {
  if (value.empty()) return {};
  const auto interval = parse_duration(value);
  return interval && interval->count() > 0 ? std::string() : "is not a duration such as 30s, 5min or 1h";
}

std::string check_unit_pair(std::string_view value) {
  std::map<std::string, std::string, std::less<>> units;
  return parse_unit_pairs(value, units, '\n');
}

std::string check_metric_interval(std::string_view value) {
  std::map<std::string, std::chrono::milliseconds, std::less<>> intervals;
  return parse_metric_intervals(value, intervals, '\n');
}

std::string check_driver_name(std::string_view value) {
  if (value.empty() || find_driver(value)) return {};
  return fmt::format("\"{}\" is not a driver of this gateway (communegw describe drivers)", value);
}

constexpr std::array<std::string_view, 4> device_kinds{"streetlight", "environment", "camera", "gateway"};

registered_device device_of_table(const driver_table& table) {
  registered_device device;
  auto text = [&](const char* key) {
    const auto it = table.texts.find(key);
    return it == table.texts.end() ? std::string() : it->second;
  };
  auto number = [&](const char* key) {
    const auto it = table.numbers.find(key);
    return it == table.numbers.end() ? std::nullopt : std::optional<double>(it->second);
  };
  device.id = text("id");
  device.kind = text("kind");
  device.name = text("name");
  device.village = text("village");
  device.latitude = number("latitude");
  device.longitude = number("longitude");
  device.road_length_m = number("road_length_m");
  device.report_interval = parse_duration(text("report_interval")).value_or(std::chrono::milliseconds(0));
  if (const auto intervals = table.lists.find("metric_intervals"); intervals != table.lists.end()) {
    for (const auto& pair : intervals->second) parse_metric_intervals(pair, device.metric_intervals, '\n');
  }
  device.driver = text("driver");
  if (const auto units = table.lists.find("units"); units != table.lists.end()) {
    for (const auto& pair : units->second) parse_unit_pairs(pair, device.units, '\n');
  }
  return device;
}

table_problem check_device_table(const driver_table& table) {
  auto device = device_of_table(table);
  auto problem = check_registered_device(device);
  if (problem.empty()) return {};
  const auto colon = problem.find(':');
  // "key: message": the key's line is shown.
  static constexpr std::array<std::string_view, 11> keys{"id",        "kind",           "name",
                                                        "village",   "latitude",       "longitude",
                                                        "road_length_m", "report_interval", "metric_intervals",
                                                        "driver",    "units"};
  const auto key = std::find(keys.begin(), keys.end(), std::string_view(problem).substr(0, colon));
  return {key == keys.end() ? std::string_view("id") : *key, problem.substr(colon == std::string::npos ? 0 : colon + 2)};
}

const std::array<driver_option, 11> device_members{
    driver_option{"id", driver_option_kind::text, "",
                  "The device id as the gateway stores it: the driver's prefix and the device's own name "
                  "(`communegw query devices` lists them), e.g. \"tasmota/den-07\".",
                  {}, nullptr, {}, true, "\"tasmota/den-07\""},
    driver_option{"kind", driver_option_kind::choice, "",
                  "What the device is: streetlight, environment, camera or gateway. Replaces the driver's guess: a "
                  "relay registered as a streetlight reports lamp_on.",
                  device_kinds, nullptr, {}, true, "\"streetlight\""},
    driver_option{"name", driver_option_kind::text, "\"\"", "Display name (Vietnamese is fine)."},
    driver_option{"village", driver_option_kind::text, "\"\"", "Village (thôn) or group the device belongs to."},
    driver_option{"latitude", driver_option_kind::number, "", "Latitude in degrees (WGS 84), with longitude.", {},
                  nullptr, {}, false, "22.8233"},
    driver_option{"longitude", driver_option_kind::number, "", "Longitude in degrees (WGS 84), with latitude.", {},
                  nullptr, {}, false, "104.9784"},
    driver_option{"road_length_m", driver_option_kind::number, "",
                  "A lamp: the length of road it lights, in metres (for the share of road lit).", {}, nullptr, {},
                  false, "35"},
    driver_option{"report_interval", driver_option_kind::text, "\"\"",
                  "How often the device is expected to report, e.g. \"5m\". Empty: not known.", {},
                  &check_interval_text},
    driver_option{"metric_intervals", driver_option_kind::text_list, "[]",
                  "Metrics the device reports at another interval, as \"metric=duration\", e.g. [\"rainfall=1h\"].",
                  {}, &check_metric_interval},
    driver_option{"driver", driver_option_kind::text, "\"\"",
                  "The driver the device comes through (informative). Empty: any.", {}, &check_driver_name},
    driver_option{"units", driver_option_kind::text_list, "[]",
                  "Units of fields whose unit the device or its bridge never announces, as \"field=unit\", e.g. "
                  "[\"soil_moisture=%\", \"temperature_1=°C\"]: the field is converted instead of refused.",
                  {}, &check_unit_pair},
};

const driver_option device_option{
    "device", driver_option_kind::table_list, "",
    "The device registry: one [[device]] table per device the installer knows more about than its messages say. "
    "Devices can also be imported from a CSV (communegw device import FILE.csv); a device defined here wins over an "
    "imported one. Unregistered devices work as they are. See docs/devices.md.",
    {}, nullptr, device_members, false, {}, &check_device_table};

std::vector<option_spec> build_option_table() {
  constexpr std::uint64_t ms = 1, s = 1000, min = 60 * s, h = 60 * min;
  constexpr std::uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;
  // One option per entry, laid out by hand: the formatter would give every field a line of its own.
  // clang-format off
  std::vector<option_spec> options = {
      {"gateway.id", value_kind::identifier, "",
       "This gateway's identifier, unique in the province. Letters, digits, '-' and '_', 1-64 characters. "
       "Also names the MQTT client id and later the uplink topics.",
       true, "\"gw-demo-01\""},
      {"gateway.province", value_kind::identifier, "", "Province identifier, as the programme server knows it.",
       true, "\"demo-province\""},
      {"gateway.commune", value_kind::identifier, "", "Commune identifier, as the programme server knows it.",
       true, "\"demo-commune\""},

      {"mqtt.uri", value_kind::string, "\"tcp://127.0.0.1:1883\"",
       "The commune's local broker. tcp://host:port, or ssl://host:port for TLS."},
      {"mqtt.protocol", value_kind::choice, "\"3.1.1\"",
       "MQTT version spoken to the local broker: 3.1.1 or 5. With 5 the persistent session is kept with a "
       "session expiry of \"never\", as 3.1.1 keeps it.",
       false, "", {"3.1.1", "5"}},
      {"mqtt.client_id", value_kind::string, "\"\"",
       "Fixed MQTT client id of the persistent session. Empty: \"communegw-<gateway.id>\", which any device "
       "account can guess: whoever connects with it takes over the session and what the broker queued for it "
       "(communegw check warns; communegw init writes a random one)."},
      {"mqtt.username", value_kind::string, "\"\"", "Username at the local broker. Empty: connect anonymously."},
      {"mqtt.password_file", value_kind::path, "\"\"",
       "File holding the broker password (first line). Keep it readable only by the service user; the "
       "password itself never goes in this file."},
      {"mqtt.ca_file", value_kind::path, "\"\"", "TLS only: CA certificate (PEM) that signed the broker's certificate."},
      {"mqtt.cert_file", value_kind::path, "\"\"", "TLS only: client certificate (PEM) for mutual TLS."},
      {"mqtt.key_file", value_kind::path, "\"\"", "TLS only: client private key (PEM) for mutual TLS."},
      {"mqtt.keepalive", value_kind::duration, "\"30s\"", "MQTT keepalive interval.", false, "", {}, 5 * s, 10 * min},
      {"mqtt.connect_timeout", value_kind::duration, "\"10s\"", "How long one connection attempt may take.", false,
       "", {}, 1 * s, 5 * min},
      {"mqtt.reconnect_min", value_kind::duration, "\"1s\"",
       "First retry delay after the broker is lost; doubles on each failure.", false, "", {}, 100 * ms, 10 * min},
      {"mqtt.reconnect_max", value_kind::duration, "\"60s\"",
       "Longest retry delay. The gateway never gives up reconnecting.", false, "", {}, 1 * s, 1 * h},
      {"mqtt.max_payload", value_kind::size, "\"64KiB\"",
       "Larger payloads are rejected (oversized_payload) without being parsed or queued whole: only their "
       "first 256 bytes are kept, for the quarantine. The commune broker's own limit is max_packet_size in "
       "deploy/mosquitto/communegw.conf.",
       false, "", {}, 64, 16 * MiB},

      {"store.path", value_kind::path, "\"/var/lib/communegw/communegw.db\"",
       "SQLite database file. Relative paths are relative to this config file's directory."},
      {"store.max_size", value_kind::size, "\"512MiB\"",
       "Quota for stored data. Above it the oldest raw readings are deleted first, then events, alarms last.",
       false, "", {}, 1 * MiB, 1024 * GiB},
      {"store.min_free_disk", value_kind::size, "\"64MiB\"",
       "Free-space floor on the store's filesystem. Below it the store sheds like over quota and gives the "
       "space back to the filesystem.",
       false, "", {}, 0, 1024 * GiB},
      {"store.emergency_reserve", value_kind::size, "\"4MiB\"",
       "Space the gateway keeps reserved in a file next to the store. When the disk fills up anyway, it is "
       "released so the store can checkpoint and shed old data instead of jamming; it is taken back once "
       "space returns. 0B: no reserve.",
       false, "", {}, 0, 1 * GiB},
      {"store.synchronous", value_kind::choice, "\"normal\"",
       "SQLite synchronous mode. normal: a commit survives a process crash at once and a power cut after the "
       "next checkpoint; full: fsync on every commit (slower, more SD-card wear). See docs/durability.md.",
       false, "", {"normal", "full"}},
      {"store.quarantine_rows", value_kind::integer, "10000",
       "Rejected messages kept for inspection (topic, first 256 payload bytes, reason). Oldest go first.", false,
       "", {}, 0, 10'000'000},
      {"store.max_batch", value_kind::integer, "2000",
       "Most messages committed in one transaction under load. When idle every message commits at once.",
       false, "", {}, 1, 100'000},
      {"store.max_uncommitted", value_kind::integer, "1000",
       "How many received messages may be acknowledged to the broker before they are committed: the most a "
       "crash can lose. The writer commits continuously, so at commune rates a message waits ~0.1 ms for "
       "its commit; the limit matters under load. 0: commit before every acknowledgement (no loss window, "
       "one commit per message). See docs/durability.md.",
       false, "", {}, 0, 100'000},
      {"store.gather_above", value_kind::integer, "5000",
       "Arrival rate (messages a second) above which the writer gathers messages for up to 25 ms, or until "
       "half of store.max_uncommitted wait, before each commit, instead of committing continuously: a "
       "backlog after an outage drains in commits of hundreds, with a fraction of the CPU and disk writes. "
       "Below it a message waits only for the commit in progress, so a crash loses almost nothing. Lower it "
       "if a slow SD card cannot keep up with the commune's bursts, or to 500 if the commune's normal "
       "traffic is 500-5,000 msg/s: disk writes fall from ~9 to ~2.5 bytes per payload byte there, and a "
       "crash may lose 25 ms of traffic (docs/durability.md).",
       false, "", {}, 1, 1'000'000},
      {"store.commit_interval", value_kind::duration, "\"1s\"",
       "SD-card wear: while fewer than 500 messages a second arrive (a commune's normal traffic), messages "
       "arriving within this interval share one commit. Every commit writes at least one store page "
       "(1 KiB; 4 KiB in stores created before 24 Nov 2026), so committing each of ~20 msg/s wrote "
       "~14 GiB/day with 4 KiB pages (bench/sd_wear.sh). A crash of the process can "
       "lose up to this long of traffic (never more than store.max_uncommitted messages); a power cut is "
       "bounded by store.sync_interval. 0s: commit every message at once. Ignored when "
       "store.max_uncommitted is 0.",
       false, "", {}, 0, 10 * s},
      {"store.sync_interval", value_kind::duration, "\"10s\"",
       "Longest time between fsyncs of the store (WAL checkpoints): the most a power cut can lose with "
       "store.synchronous = normal. Shorter: more SD-card writes.",
       false, "", {}, 1 * s, 10 * min},
      {"store.dedupe_window", value_kind::integer, "100000",
       "How many recent message identities are remembered to drop MQTT redeliveries (24 bytes each, "
       "rebuilt from the store at start). Redeliveries are always recent: the messages in flight when a "
       "connection or the gateway died.",
       false, "", {}, 1000, 10'000'000},
      {"store.startup_check", value_kind::choice, "\"quick\"",
       "Integrity check when the store opens: quick (PRAGMA quick_check, seconds), full (integrity_check, "
       "can take minutes on an SD card) or off. A failed check moves the file aside and starts fresh.",
       false, "", {"quick", "full", "off"}},

      {"clock.trust", value_kind::choice, "\"auto\"",
       "When to trust the wall clock. auto: when the kernel reports NTP sync and the year is plausible; always; "
       "never. Untrusted records are marked and can be re-stamped later.",
       false, "", {"auto", "always", "never"}},
      {"clock.min_year", value_kind::integer, "2025", "Wall clock readings before this year are never trusted.",
       false, "", {}, 2020, 2100},

      {"aggregate.periods", value_kind::string_list, "[\"5m\", \"1h\"]",
       "Aggregation windows per device and metric (count, min, max, mean, last, completeness). Each must "
       "divide a day. Computed from the store, so a restart neither loses nor double-counts a sample."},
      {"aggregate.utc_offset", value_kind::string, "\"+07:00\"",
       "Local commune time as an offset from UTC (Viet Nam: +07:00, no daylight saving). Windows start at "
       "local midnight and every period after it."},
      {"aggregate.expected_period", value_kind::duration, "\"60s\"",
       "How often a device is expected to report; completeness = samples / (window / this).", false, "", {},
       1 * s, 24 * h},
      {"aggregate.close_delay", value_kind::duration, "\"2m\"",
       "How long after a window ends it is first sent, so messages still in flight land in it. Later samples "
       "re-compute the window and send a new revision.",
       false, "", {}, 0, 24 * h},
      {"aggregate.incident_timeout", value_kind::duration, "\"10m\"",
       "An incident a device reports several times (a Frigate tracked object) is counted in the aggregates "
       "and sent upstream when it ends, or when it has been open this long; a later change then goes up as a "
       "new revision of it (docs/storage.md, \"Incidents\").",
       false, "", {}, 1 * s, 24 * h},

      {"aggregate.interval", value_kind::duration, "\"5m\"",
       "How often new samples are folded into the aggregates. Each fold rewrites the pages of the open "
       "windows, so folding less often means fewer SD-card writes; a closed window is sent at most this "
       "long after aggregate.close_delay.",
       false, "", {}, 1 * s, 1 * h},
      {"aggregate.clock_wait", value_kind::duration, "\"1h\"",
       "How long samples received before the wall clock was trusted wait for it (NTP, after a boot without an "
       "RTC) before they are aggregated anyway. Waiting lets them be re-stamped and land in their true windows; "
       "after this they are folded at their untrusted time and counted as untrusted. 0s: never wait.",
       false, "", {}, 0, 7 * 24 * h},
      {"aggregate.night", value_kind::string, "\"18:00-06:00\"",
       "Local hours when streetlights should be on (HH:MM-HH:MM, may cross midnight). Streetlight windows "
       "then also report night-time lamp availability (share of night samples with the lamp on) and the "
       "lowest battery charge at night."},

      {"uplink.enabled", value_kind::boolean, "false",
       "Send aggregates, events, alarms and health to the central programme server."},
      {"uplink.uri", value_kind::string, "\"ssl://central.example.vn:8883\"",
       "Central broker. ssl://host:port (TLS, the server certificate checked against uplink.ca_file), or "
       "tcp://host:port only for tests."},
      {"uplink.protocol", value_kind::choice, "\"5\"",
       "MQTT version spoken to the central broker: 5 or 3.1.1. With 5 a broker that refuses a batch (its ACL, a "
       "quota) says so in the PUBACK, and the batch stays in the outbox, counted and logged; a 3.1.1 broker "
       "acknowledges and drops what its ACL refuses, so the gateway cannot know. Use 3.1.1 only for a "
       "central broker without MQTT 5.",
       false, "", {"5", "3.1.1"}},
      {"uplink.client_id", value_kind::string, "\"\"", "MQTT client id at the central broker. Empty: \"communegw-<gateway.id>\"."},
      {"uplink.username", value_kind::string, "\"\"", "Username at the central broker. Empty: none (e.g. mutual TLS)."},
      {"uplink.password_file", value_kind::path, "\"\"",
       "File holding the central broker password (first line), readable only by the service user."},
      {"uplink.ca_file", value_kind::path, "\"\"", "CA certificate (PEM) the central broker's certificate must chain to."},
      {"uplink.cert_file", value_kind::path, "\"\"", "Client certificate (PEM) for mutual TLS."},
      {"uplink.key_file", value_kind::path, "\"\"", "Client private key (PEM) for mutual TLS."},
      {"uplink.keepalive", value_kind::duration, "\"60s\"", "MQTT keepalive to the central broker.", false, "", {},
       5 * s, 30 * min},
      {"uplink.connect_timeout", value_kind::duration, "\"30s\"", "How long one connection attempt may take (4G is slow).",
       false, "", {}, 1 * s, 5 * min},
      {"uplink.reconnect_min", value_kind::duration, "\"2s\"", "First retry delay after the link is lost; doubles on each failure.",
       false, "", {}, 100 * ms, 10 * min},
      {"uplink.reconnect_max", value_kind::duration, "\"5m\"", "Longest retry delay (with jitter). The gateway never gives up.",
       false, "", {}, 1 * s, 1 * h},
      {"uplink.aggregate_periods", value_kind::string_list, "[\"1h\"]",
       "Which of aggregate.periods are sent to the centre; the others stay local (query, status page). Each "
       "must be in aggregate.periods."},
      {"uplink.raw_metrics", value_kind::string_list, "[]",
       "Canonical metrics (docs/metrics.md) whose every reading is also sent, in the raw stream, lowest "
       "priority. Off by default: aggregates are what the programme needs, at a fraction of the bytes. Raw "
       "records are the first to go when the monthly budget runs low."},
      {"uplink.batch_records", value_kind::integer, "500", "Most records in one uplink MQTT message.", false, "", {}, 1,
       100'000},
      {"uplink.batch_bytes", value_kind::size, "\"128KiB\"",
       "Most uncompressed bytes of records in one uplink MQTT message (it is sent zstd-compressed).", false, "",
       {}, 1 * KiB, 16 * MiB},
      {"uplink.max_inflight", value_kind::integer, "8", "Uplink messages sent and not yet acknowledged by the central broker.",
       false, "", {}, 1, 1000},
      {"uplink.max_rate", value_kind::size, "\"0B\"",
       "Bytes per second the uplink may send (compressed, on the wire). 0B: as fast as the link goes. Alarms "
       "are never held back by it.",
       false, "", {}, 0, 1024 * MiB},
      {"uplink.monthly_budget", value_kind::size, "\"0B\"",
       "Bytes the uplink may send per calendar month (UTC), e.g. \"2GiB\". When it is spent only alarms go; "
       "the rest waits for the next month. 0B: no budget.",
       false, "", {}, 0, 1024 * GiB},
      {"uplink.health_interval", value_kind::duration, "\"5m\"", "How often the gateway's own health record is queued.",
       false, "", {}, 1 * s, 24 * h},

      {"log.level", value_kind::choice, "\"info\"", "Log level (logs go to stdout, for journald).", false, "",
       {"trace", "debug", "info", "warn", "error"}},
      {"log.stats_interval", value_kind::duration, "\"60s\"",
       "How often a one-line ingest summary is logged. 0s: never.", false, "", {}, 0, 24 * h},
  };
  // clang-format on
  options.push_back(spec_of_driver_option("device", device_option));
  for (const auto& driver : driver_registry()) {
    std::string topics = "[";
    for (std::size_t i = 0; i < driver.default_topics.size(); ++i) {
      topics += fmt::format("{}\"{}\"", i ? ", " : "", driver.default_topics[i]);
    }
    topics += "]";
    options.push_back({fmt::format("driver.{}.enabled", driver.name), value_kind::boolean,
                       driver.enabled_by_default ? "true" : "false",
                       fmt::format("Enable the {} driver: {}", driver.name, driver.summary)});
    options.push_back({fmt::format("driver.{}.topics", driver.name), value_kind::string_list, topics,
                       "MQTT topic filters this driver subscribes to (QoS 1)."});
    for (const auto& option : driver.options) {
      options.push_back(spec_of_driver_option(fmt::format("driver.{}.{}", driver.name, option.key), option));
    }
  }
  return options;
}

std::string location(const std::filesystem::path& file, const toml::source_region& where) {
  return fmt::format("{}:{}", file.string(), where.begin.line);
}

[[noreturn]] void fail(const std::filesystem::path& file, const toml::node& node, std::string_view key,
                       std::string_view message) {
  throw config_error(fmt::format("{}: {}: {}", location(file, node.source()), key, message));
}

std::string range_text(const option_spec& spec) {
  switch (spec.kind) {
    case value_kind::integer: return fmt::format("{} … {}", spec.min, spec.max);
    case value_kind::duration:
      return fmt::format("{} … {}", format_duration(std::chrono::milliseconds(spec.min)),
                         format_duration(std::chrono::milliseconds(spec.max)));
    case value_kind::size: return fmt::format("{} … {}", format_size(spec.min), format_size(spec.max));
    default: return "";
  }
}

option_value validate(const option_spec& spec, const toml::node& node, const std::filesystem::path& file);

// [[driver.<name>.<key>]] tables: each key of each table validated like a
// top-level key (its name shown as "driver.<name>.<key>.<member>"), required
// members present, defaults filled in, then the driver's check across keys.
std::vector<driver_table> validate_table_list(const option_spec& spec, const toml::node& node,
                                              const std::filesystem::path& file) {
  const auto* array = node.as_array();
  if (!array) fail(file, node, spec.key, fmt::format("expected tables: write [[{}]] once per entry", spec.key));
  const auto& declared = *spec.driver_declared;
  std::vector<driver_table> tables;
  for (const auto& item : *array) {
    const auto* table = item.as_table();
    if (!table) fail(file, item, spec.key, fmt::format("expected tables: write [[{}]] once per entry", spec.key));
    driver_table out;
    out.source = location(file, item.source());
    std::map<std::string_view, const toml::node*> where;
    for (const auto& [raw_key, value] : *table) {
      const std::string_view name = raw_key.str();  // clang 14 cannot capture a structured binding
      const auto member = std::find_if(declared.members.begin(), declared.members.end(),
                                       [&](const driver_option& m) { return m.key == name; });
      const auto member_key = fmt::format("{}.{}", spec.key, name);
      if (member == declared.members.end()) {
        std::vector<std::string_view> known;
        for (const auto& m : declared.members) known.push_back(m.key);
        fail(file, value, member_key, fmt::format("unknown key (known: {})", fmt::join(known, ", ")));
      }
      where.emplace(member->key, &value);
      auto parsed = validate(spec_of_driver_option(member_key, *member), value, file);
      if (auto* text = std::get_if<std::string>(&parsed)) out.texts.emplace(std::string(member->key), std::move(*text));
      else if (auto* number = std::get_if<double>(&parsed)) out.numbers.emplace(std::string(member->key), *number);
      else if (auto* list = std::get_if<std::vector<std::string>>(&parsed)) out.lists.emplace(std::string(member->key), std::move(*list));
      else if (auto* nested = std::get_if<std::vector<driver_table>>(&parsed)) out.tables.emplace(std::string(member->key), std::move(*nested));
    }
    for (const auto& member : declared.members) {
      if (where.count(member.key)) continue;
      const auto member_key = fmt::format("{}.{}", spec.key, member.key);
      if (member.required) fail(file, item, member_key, "required key is missing");
      if (member.default_text.empty() && member.kind != driver_option_kind::table_list) continue;  // optional, no default
      const auto member_spec = spec_of_driver_option(member_key, member);
      const auto doc = toml::parse("v = " + member_spec.default_text);
      auto parsed = validate(member_spec, *doc.get("v"), file);
      if (auto* text = std::get_if<std::string>(&parsed)) out.texts.emplace(std::string(member.key), std::move(*text));
      else if (auto* number = std::get_if<double>(&parsed)) out.numbers.emplace(std::string(member.key), *number);
      else if (auto* list = std::get_if<std::vector<std::string>>(&parsed)) out.lists.emplace(std::string(member.key), std::move(*list));
      else if (auto* nested = std::get_if<std::vector<driver_table>>(&parsed)) out.tables.emplace(std::string(member.key), std::move(*nested));
    }
    if (declared.check_table) {
      if (const auto problem = declared.check_table(out); !problem.message.empty()) {
        const auto it = where.find(problem.key);
        fail(file, it != where.end() ? *it->second : item, fmt::format("{}.{}", spec.key, problem.key), problem.message);
      }
    }
    tables.push_back(std::move(out));
  }
  return tables;
}

option_value validate(const option_spec& spec, const toml::node& node, const std::filesystem::path& file) {
  const auto& key = spec.key;
  auto need_string = [&]() -> std::string {
    const auto* text = node.as_string();
    if (!text) fail(file, node, key, "expected a string");
    return text->get();
  };
  auto check_range = [&](std::uint64_t value, std::string_view shown) {
    if (value < spec.min || value > spec.max) {
      fail(file, node, key, fmt::format("{} is out of range ({})", shown, range_text(spec)));
    }
  };
  auto checked = [&](const toml::node& where, std::string text) {
    if (spec.check) {
      if (const auto problem = spec.check(text); !problem.empty()) fail(file, where, key, problem);
    }
    return text;
  };
  switch (spec.kind) {
    case value_kind::string: return checked(node, need_string());
    case value_kind::path: return need_string();
    case value_kind::identifier: {
      auto text = need_string();
      const bool ok = !text.empty() && text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      });
      if (!ok) fail(file, node, key, fmt::format("\"{}\" is not an identifier (letters, digits, '-', '_'; 1-64)", text));
      return text;
    }
    case value_kind::integer: {
      const auto* number = node.as_integer();
      if (!number) fail(file, node, key, "expected an integer");
      if (number->get() < 0) fail(file, node, key, fmt::format("{} is negative", number->get()));
      check_range(static_cast<std::uint64_t>(number->get()), std::to_string(number->get()));
      return number->get();
    }
    case value_kind::boolean: {
      const auto* flag = node.as_boolean();
      if (!flag) fail(file, node, key, "expected true or false");
      return flag->get();
    }
    case value_kind::duration: {
      if (node.is_integer() || node.is_floating_point()) {
        fail(file, node, key, "a duration needs a unit, e.g. \"30s\" (units: ms, s, m, h, d)");
      }
      const auto text = need_string();
      const auto value = parse_duration(text);
      if (!value) fail(file, node, key, fmt::format("\"{}\" is not a duration (e.g. \"500ms\", \"30s\", \"5m\", \"1h\")", text));
      check_range(static_cast<std::uint64_t>(value->count()), text);
      return *value;
    }
    case value_kind::size: {
      if (node.is_integer() || node.is_floating_point()) {
        fail(file, node, key, "a size needs a unit, e.g. \"512MiB\" (units: B, KiB, MiB, GiB, KB, MB, GB)");
      }
      const auto text = need_string();
      const auto value = parse_size(text);
      if (!value) fail(file, node, key, fmt::format("\"{}\" is not a size (e.g. \"64KiB\", \"512MiB\", \"2GiB\")", text));
      check_range(*value, text);
      return *value;
    }
    case value_kind::choice: {
      const auto text = need_string();
      if (std::find(spec.choices.begin(), spec.choices.end(), text) == spec.choices.end()) {
        fail(file, node, key, fmt::format("\"{}\" is not one of: {}", text, fmt::join(spec.choices, ", ")));
      }
      return text;
    }
    case value_kind::number: {
      if (const auto* integer = node.as_integer()) return static_cast<double>(integer->get());
      const auto* number = node.as_floating_point();
      if (!number) fail(file, node, key, "expected a number");
      if (!std::isfinite(number->get())) fail(file, node, key, "expected a finite number");
      return number->get();
    }
    case value_kind::table_list: return validate_table_list(spec, node, file);
    case value_kind::string_list: {
      const auto* array = node.as_array();
      if (!array) fail(file, node, key, "expected an array of strings");
      std::vector<std::string> items;
      for (const auto& item : *array) {
        const auto* text = item.as_string();
        if (!text || text->get().empty()) fail(file, item, key, "expected non-empty strings");
        items.push_back(checked(item, text->get()));
      }
      return items;
    }
  }
  fail(file, node, key, "unsupported option kind");
}

struct parsed_options {
  std::map<std::string, option_value> values;
  std::map<std::string, const toml::node*> nodes;
};

void collect(const toml::table& table, const std::string& prefix, const std::vector<option_spec>& specs,
             const std::filesystem::path& file, parsed_options& out) {
  for (const auto& [raw_key, node] : table) {
    const std::string key = prefix.empty() ? std::string(raw_key.str()) : prefix + "." + std::string(raw_key.str());
    if (const auto* sub = node.as_table()) {
      const auto list = std::find_if(specs.begin(), specs.end(), [&](const option_spec& spec) {
        return spec.key == key && spec.kind == value_kind::table_list;
      });
      if (list != specs.end()) fail(file, node, key, fmt::format("expected tables: write [[{}]] once per entry", key));
      const bool is_section = std::any_of(specs.begin(), specs.end(), [&](const option_spec& spec) {
        return spec.key.rfind(key + ".", 0) == 0;
      });
      if (!is_section) fail(file, node, key, "unknown section");
      collect(*sub, key, specs, file, out);
      continue;
    }
    const auto spec = std::find_if(specs.begin(), specs.end(), [&](const option_spec& s) { return s.key == key; });
    if (spec == specs.end()) fail(file, node, key, "unknown key (see config/communegw.example.toml)");
    out.values.emplace(key, validate(*spec, node, file));
    out.nodes.emplace(key, &node);
  }
}

}  // namespace

std::string read_secret_file(const std::filesystem::path& path, const std::filesystem::path& config_file,
                             std::string_view key, std::vector<std::string>& warnings) {
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && (info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    warnings.push_back(fmt::format("{}: {}: \"{}\" can be read by other users; chmod 600 it", config_file.string(), key,
                                   path.string()));
  }
  std::ifstream in(path);
  if (!in) throw config_error(fmt::format("{}: {}: cannot read \"{}\"", config_file.string(), key, path.string()));
  std::string secret;
  std::getline(in, secret);
  while (!secret.empty() && (secret.back() == '\r' || secret.back() == ' ')) secret.pop_back();
  if (secret.empty()) throw config_error(fmt::format("{}: {}: \"{}\" is empty", config_file.string(), key, path.string()));
  return secret;
}

namespace {

config build_config(parsed_options& parsed, const std::vector<option_spec>& specs, const std::filesystem::path& file) {
  for (const auto& spec : specs) {
    if (parsed.values.count(spec.key)) continue;
    if (spec.required) throw config_error(fmt::format("{}: {}: required key is missing", file.string(), spec.key));
    // Defaults are TOML literals too, validated by the same code as user values.
    const auto doc = toml::parse("v = " + spec.default_text);
    parsed.values.emplace(spec.key, validate(spec, *doc.get("v"), file));
  }
  auto str = [&](const char* key) { return std::get<std::string>(parsed.values.at(key)); };
  auto dur = [&](const char* key) { return std::get<std::chrono::milliseconds>(parsed.values.at(key)); };
  auto size = [&](const char* key) { return std::get<std::uint64_t>(parsed.values.at(key)); };
  auto integer = [&](const char* key) { return std::get<std::int64_t>(parsed.values.at(key)); };
  const auto base_dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  auto path = [&](const char* key) -> std::string {
    const auto value = str(key);
    if (value.empty()) return value;
    const std::filesystem::path p(value);
    return p.is_absolute() ? value : (base_dir / p).lexically_normal().string();
  };

  // A cross-key error points at the line of the key when the file set it.
  auto fail_key = [&](const char* key, std::string_view message) {
    if (const auto it = parsed.nodes.find(key); it != parsed.nodes.end()) fail(file, *it->second, key, message);
    throw config_error(fmt::format("{}: {}: {}", file.string(), key, message));
  };
  // "<file>:<line>" of a key, for messages about what it names (a secret file).
  auto where = [&](const std::string& key) {
    const auto it = parsed.nodes.find(key);
    return it == parsed.nodes.end() ? file.string() : location(file, it->second->source());
  };

  config cfg;
  cfg.source = file;
  cfg.gateway = {str("gateway.id"), str("gateway.province"), str("gateway.commune")};

  // The local and the central broker connections share their keys and their checks.
  auto broker = [&](const std::string& section, const std::string& default_client_id) {
    auto key = [&](const char* name) { return section + "." + name; };
    mqtt_settings out;
    out.uri = str(key("uri").c_str());
    if (out.uri.rfind("tcp://", 0) != 0 && out.uri.rfind("ssl://", 0) != 0 && out.uri.rfind("mqtt://", 0) != 0 &&
        out.uri.rfind("mqtts://", 0) != 0) {
      fail_key(key("uri").c_str(), fmt::format("\"{}\" must start with tcp:// or ssl://", out.uri));
    }
    out.protocol = str(key("protocol").c_str()) == "5" ? mqtt_protocol::v5 : mqtt_protocol::v3_1_1;
    out.client_id = str(key("client_id").c_str());
    if (out.client_id.empty()) out.client_id = default_client_id;
    out.username = str(key("username").c_str());
    out.ca_file = path(key("ca_file").c_str());
    out.cert_file = path(key("cert_file").c_str());
    out.key_file = path(key("key_file").c_str());
    out.keepalive = dur(key("keepalive").c_str());
    out.connect_timeout = dur(key("connect_timeout").c_str());
    out.reconnect_min = dur(key("reconnect_min").c_str());
    out.reconnect_max = dur(key("reconnect_max").c_str());
    if (out.reconnect_min > out.reconnect_max) {
      fail_key(key("reconnect_min").c_str(), fmt::format("is longer than {}", key("reconnect_max")));
    }
    if (out.cert_file.empty() != out.key_file.empty()) {
      fail_key(key(out.cert_file.empty() ? "key_file" : "cert_file").c_str(),
               fmt::format("mutual TLS needs both {} and {}", key("cert_file"), key("key_file")));
    }
    if (const auto password_file = path(key("password_file").c_str()); !password_file.empty()) {
      out.password = read_secret_file(password_file, where(key("password_file")), key("password_file"), cfg.warnings);
    }
    return out;
  };
  cfg.mqtt = broker("mqtt", "communegw-" + cfg.gateway.id);
  cfg.mqtt.max_payload = size("mqtt.max_payload");

  auto& store = cfg.store;
  store.path = path("store.path");
  store.max_size = size("store.max_size");
  store.min_free_disk = size("store.min_free_disk");
  store.emergency_reserve = size("store.emergency_reserve");
  store.synchronous_full = str("store.synchronous") == "full";
  store.quarantine_rows = static_cast<std::uint64_t>(integer("store.quarantine_rows"));
  store.max_batch = static_cast<std::uint64_t>(integer("store.max_batch"));
  store.dedupe_window = static_cast<std::uint64_t>(integer("store.dedupe_window"));
  store.max_uncommitted = static_cast<std::uint64_t>(integer("store.max_uncommitted"));
  store.gather_above = static_cast<std::uint64_t>(integer("store.gather_above"));
  store.commit_interval = dur("store.commit_interval");
  store.sync_interval = dur("store.sync_interval");
  const auto check = str("store.startup_check");
  store.check = check == "full" ? startup_check::full : check == "off" ? startup_check::off : startup_check::quick;

  const auto trust = str("clock.trust");
  cfg.clock.trust = trust == "always"  ? clock_trust_mode::always
                    : trust == "never" ? clock_trust_mode::never
                                       : clock_trust_mode::automatic;
  cfg.clock.min_year = static_cast<int>(integer("clock.min_year"));

  auto periods = [&](const char* key) {
    std::vector<std::chrono::milliseconds> out;
    for (const auto& text : std::get<std::vector<std::string>>(parsed.values.at(key))) {
      const auto period = parse_duration(text);
      constexpr std::chrono::milliseconds day = std::chrono::hours(24);
      if (!period || period->count() < 60'000 || day % *period != std::chrono::milliseconds(0)) {
        fail_key(key, fmt::format("\"{}\" is not a period of at least 1m that divides a day (e.g. \"5m\", \"1h\")", text));
      }
      if (std::find(out.begin(), out.end(), *period) != out.end()) fail_key(key, fmt::format("\"{}\" is listed twice", text));
      out.push_back(*period);
    }
    return out;
  };
  auto& aggregate = cfg.aggregate;
  aggregate.periods = periods("aggregate.periods");
  {
    const auto text = str("aggregate.utc_offset");
    int hours = 0, minutes = 0;
    char sign = 0;
    if (text.size() != 6 || (text[0] != '+' && text[0] != '-') || text[3] != ':' ||
        std::sscanf(text.c_str(), "%c%2d:%2d", &sign, &hours, &minutes) != 3 || hours > 14 || minutes > 59) {
      fail_key("aggregate.utc_offset", fmt::format("\"{}\" is not an offset like \"+07:00\"", text));
    }
    aggregate.utc_offset = std::chrono::minutes((hours * 60 + minutes) * (sign == '-' ? -1 : 1));
  }
  {
    const auto text = str("aggregate.night");
    int h1 = 0, m1 = 0, h2 = 0, m2 = 0;
    char dash = 0;
    if (text.size() != 11 || std::sscanf(text.c_str(), "%2d:%2d%c%2d:%2d", &h1, &m1, &dash, &h2, &m2) != 5 || dash != '-' ||
        h1 > 23 || h2 > 23 || m1 > 59 || m2 > 59 || (h1 == h2 && m1 == m2)) {
      fail_key("aggregate.night", fmt::format("\"{}\" is not a time range like \"18:00-06:00\"", text));
    }
    aggregate.night_start = std::chrono::minutes(h1 * 60 + m1);
    aggregate.night_end = std::chrono::minutes(h2 * 60 + m2);
  }
  aggregate.expected_period = dur("aggregate.expected_period");
  aggregate.close_delay = dur("aggregate.close_delay");
  aggregate.incident_timeout = dur("aggregate.incident_timeout");
  aggregate.interval = dur("aggregate.interval");
  aggregate.clock_wait = dur("aggregate.clock_wait");

  auto& uplink = cfg.uplink;
  uplink.enabled = std::get<bool>(parsed.values.at("uplink.enabled"));
  uplink.broker = broker("uplink", "communegw-" + cfg.gateway.id);
  uplink.aggregate_periods = periods("uplink.aggregate_periods");
  for (const auto period : uplink.aggregate_periods) {
    if (std::find(aggregate.periods.begin(), aggregate.periods.end(), period) == aggregate.periods.end()) {
      fail_key("uplink.aggregate_periods", fmt::format("\"{}\" is not in aggregate.periods", format_duration(period)));
    }
  }
  uplink.raw_metrics = std::get<std::vector<std::string>>(parsed.values.at("uplink.raw_metrics"));
  for (const auto& metric : uplink.raw_metrics) {
    if (!find_metric(metric)) fail_key("uplink.raw_metrics", fmt::format("\"{}\" is not a canonical metric (docs/metrics.md)", metric));
  }
  uplink.batch_records = static_cast<std::uint64_t>(integer("uplink.batch_records"));
  uplink.batch_bytes = size("uplink.batch_bytes");
  uplink.max_inflight = static_cast<std::uint64_t>(integer("uplink.max_inflight"));
  uplink.max_rate = size("uplink.max_rate");
  uplink.monthly_budget = size("uplink.monthly_budget");
  uplink.health_interval = dur("uplink.health_interval");
  if (uplink.enabled && uplink.broker.uri.rfind("tcp://", 0) == 0) {
    cfg.warnings.push_back(fmt::format("{}: uplink.uri: \"{}\" is not TLS: the link to the centre is unencrypted",
                                       file.string(), uplink.broker.uri));
  }

  cfg.log.level = str("log.level");
  cfg.log.stats_interval = dur("log.stats_interval");

  for (const auto& driver : driver_registry()) {
    driver_settings settings;
    settings.name = std::string(driver.name);
    settings.enabled = std::get<bool>(parsed.values.at(fmt::format("driver.{}.enabled", driver.name)));
    settings.topics = std::get<std::vector<std::string>>(parsed.values.at(fmt::format("driver.{}.topics", driver.name)));
    for (const auto& option : driver.options) {
      const auto& value = parsed.values.at(fmt::format("driver.{}.{}", driver.name, option.key));
      if (const auto* list = std::get_if<std::vector<std::string>>(&value)) {
        settings.lists.emplace(std::string(option.key), *list);
      } else if (const auto* tables = std::get_if<std::vector<driver_table>>(&value)) {
        settings.tables.emplace(std::string(option.key), *tables);
      } else if (const auto* number = std::get_if<double>(&value)) {
        settings.numbers.emplace(std::string(option.key), *number);
      } else {
        settings.texts.emplace(std::string(option.key), std::get<std::string>(value));
      }
    }
    cfg.drivers.push_back(std::move(settings));
  }

  for (const auto& table : std::get<std::vector<driver_table>>(parsed.values.at("device"))) {
    auto device = device_of_table(table);
    device.source = table.source;
    const auto first = std::find_if(cfg.devices.begin(), cfg.devices.end(),
                                    [&](const registered_device& other) { return other.id == device.id; });
    if (first != cfg.devices.end()) {
      throw config_error(fmt::format("{}: device.id: \"{}\" is already defined at {}", device.source, device.id, first->source));
    }
    cfg.devices.push_back(std::move(device));
  }
  return cfg;
}

}  // namespace

config parse_config(std::string_view toml_text, const std::filesystem::path& source_name) {
  toml::table table;
  try {
    table = toml::parse(toml_text, source_name.string());
  } catch (const toml::parse_error& error) {
    throw config_error(fmt::format("{}:{}: {}", source_name.string(), error.source().begin.line, error.description()));
  }
  const auto specs = build_option_table();
  parsed_options parsed;
  collect(table, "", specs, source_name, parsed);
  return build_config(parsed, specs, source_name);
}

config load_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw config_error(fmt::format("{}: cannot open the configuration file", file.string()));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_config(buffer.str(), file);
}

namespace {

// A description as comment lines wrapped at ~90 columns, each starting with `margin`.
std::string wrapped_comment(std::string_view description, std::string_view margin) {
  std::string out;
  std::string line(margin);
  std::istringstream words{std::string(description)};
  std::string word;
  while (words >> word) {
    if (line.size() + word.size() + 1 > 90) {
      out += line + "\n";
      line = margin;
    }
    line += " " + word;
  }
  return out + line + "\n";
}

// One key explained in place: its description, its default/range/choices, and
// the key itself. `margin` starts every line ("" or "# " inside a commented-out
// table example).
void explain_key(std::string& out, const option_spec& spec, std::string_view margin) {
  const auto dot = spec.key.rfind('.');
  out += wrapped_comment(spec.description, std::string(margin) + "#");
  std::string facts;
  if (spec.required) facts = "required, no default";
  else if (spec.default_text.empty()) facts = "optional, no default";
  else facts = "default " + spec.default_text;
  if (const auto range = range_text(spec); !range.empty()) facts += "; range " + range;
  if (!spec.choices.empty()) facts += "; one of " + fmt::format("{}", fmt::join(spec.choices, ", "));
  out += std::string(margin) + "# (" + facts + ")\n";
  const bool example = spec.required || spec.default_text.empty();
  out += fmt::format("{}{} = {}\n", margin, spec.key.substr(dot + 1), example ? spec.example_text : spec.default_text);
}

// A table-list option: there is no default to show as a value (an empty list
// cannot be written next to [[…]] tables), so a commented-out example table
// explains every member, nested table lists after the plain keys.
void explain_table_list(std::string& out, const option_spec& spec, bool top) {
  if (top) {
    out += wrapped_comment(spec.description, "#");
    out += fmt::format("# (none by default; one [[{}]] table per entry, e.g.:)\n", spec.key);
  } else {
    out += "#\n" + wrapped_comment(spec.description, "# #");
  }
  out += fmt::format("# [[{}]]\n", spec.key);
  const auto& declared = *spec.driver_declared;
  for (const auto& member : declared.members) {
    if (member.kind == driver_option_kind::table_list) continue;
    explain_key(out, spec_of_driver_option(fmt::format("{}.{}", spec.key, member.key), member), "# ");
  }
  for (const auto& member : declared.members) {
    if (member.kind != driver_option_kind::table_list) continue;
    explain_table_list(out, spec_of_driver_option(fmt::format("{}.{}", spec.key, member.key), member), false);
  }
}

}  // namespace

std::string example_config() {
  std::string out =
      "# communegw configuration.\n"
      "#\n"
      "# Every key is shown with its default and explained in place. Durations take a\n"
      "# unit (ms, s, m, h, d); sizes take one too (B, KiB, MiB, GiB, KB, MB, GB).\n"
      "# Unknown keys and bad values stop start-up with file:line: key: message.\n"
      "# Generated by `communegw describe config`; do not edit the copy in the repository by hand.\n";
  std::string section;
  for (const auto& spec : build_option_table()) {
    const auto dot = spec.key.rfind('.');
    // A top-level table list ([[device]]) has no section of its own.
    const auto key_section = dot == std::string::npos ? std::string() : spec.key.substr(0, dot);
    if (key_section != section) {
      section = key_section;
      out += section.empty() ? "\n" : fmt::format("\n[{}]\n", section);
    }
    if (spec.kind == value_kind::table_list) explain_table_list(out, spec, true);
    else explain_key(out, spec, "");
  }
  return out;
}

}  // namespace communegw
