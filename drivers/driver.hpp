#pragma once
// The driver contract. A driver is a small decoder: it turns one MQTT message
// (topic, payload) into canonical records (decoded_message) or a precise
// rejection. It does no I/O, owns no thread and touches no global state, so
// it can be tested with two strings.
//
// Threading: the ingest path calls decode() from a single thread (the store
// writer thread), so an instance may keep per-instance state between calls
// (parser buffers, alias tables). decode() must not block and must not throw:
// every bad input becomes a rejection. A throw is treated as a driver bug: the
// message is quarantined with reason malformed_json and the bug logged.

#include <array>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "gateway/config/config.hpp"
#include "gateway/model/record.hpp"

namespace communegw {

class driver {
 public:
  virtual ~driver() = default;
  virtual decode_result decode(std::string_view topic, std::string_view payload) = 0;
  // Gives back what the driver's buffers grew to for the payload it just
  // decoded (a parser keeps its capacity: a few MiB payloads would otherwise
  // stay allocated per driver for life). Called by ingest, on the same thread
  // as decode(), after a payload over large_payload_bytes (inbound_message.hpp).
  virtual void release_memory() {}
};

// An option of one driver, under [driver.<name>]. Declared by the driver in
// its descriptor; the config option table takes it in, so validation, the
// example config and `describe config` cover it like every other key.
// number: a TOML integer or float. table_list: an array of tables
// ([[driver.<name>.<key>]]), each with the keys declared in `members`
// (which may themselves be table lists); declare it after the plain keys.
enum class driver_option_kind { text, choice, text_list, number, table_list };

// What is wrong with one table of a table list, found after each of its keys
// was valid on its own (e.g. a unit that does not fit the metric): the key it
// concerns (its line is shown) and the message. An empty message: no problem.
struct table_problem {
  std::string_view key;
  std::string message;
};

struct driver_option {
  std::string_view key;           // e.g. "device_kind"
  driver_option_kind kind;
  std::string_view default_text;  // TOML literal
  std::string_view description;
  std::span<const std::string_view> choices = {};  // for choice
  // Checks one text value or one list item at start-up; returns an error
  // message (shown as file:line: key: message) or an empty string when valid.
  std::string (*check)(std::string_view value) = nullptr;
  // Members of a table_list option: only these keys are allowed in each table.
  std::span<const driver_option> members = {};
  // For members: the key must be present (default_text is then empty).
  bool required = false;
  // For members without a default: the value shown in the example config.
  std::string_view example_text = {};
  // For table_list options: checks each table across its keys at start-up.
  table_problem (*check_table)(const driver_table& table) = nullptr;
};

// The device kinds a driver's `device_kind` option may name (the kinds that
// carry readings; cameras and gateways are set by the drivers that know them).
inline constexpr std::array<std::string_view, 2> device_kind_choices{"environment", "streetlight"};

// How a driver declares itself: one value, listed by hand in drivers/registry.cpp.
struct driver_descriptor {
  std::string_view name;     // config section [driver.<name>]
  std::string_view summary;  // one line for `communegw describe drivers` and the example config
  std::span<const std::string_view> default_topics;  // MQTT topic filters
  bool enabled_by_default;
  std::unique_ptr<driver> (*make)(const driver_settings& settings);
  std::span<const driver_option> options = {};
};

}  // namespace communegw
