#pragma once
// Configurable field mapping: values found by RFC 6901 JSON pointer in a JSON
// object become canonical readings. One component behind every driver whose
// payload layout is data rather than code: json_mapping (a whole payload) and
// the LoRaWAN network servers (the codec's decoded object).
//
// Each field: pointer → metric, source unit (converted by drivers/units),
// scale and offset (applied first, in the source unit), optional min/max (in
// the metric's unit, tighter than its plausible range). The same reading rules
// as every driver: absent, null, "nan", "n/a" are unknown (no reading), a
// numeric string counts when it is a number as a whole, anything else is a
// field rejection naming the pointer.
//
// Optionally also the built-in names of common LoRaWAN codec outputs
// (temperature, humidity, pm2_5 … and NAS-style keys with a unit suffix:
// "mains_voltage__V", "dimming_level__percent"), matched at any depth.
// Configured fields win over built-in names for the same metric.
//
// The mapping is built once at start-up from validated settings and then only
// read: apply() is const and keeps no state between messages.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "drivers/driver.hpp"

namespace communegw {

enum class time_format { epoch_s, epoch_ms, iso8601 };

struct field_rule {
  std::string pointer;  // as configured, for details: "/data/temp"
  const metric_info* metric = nullptr;
  std::string unit;     // source unit; empty for on/off metrics
  double scale = 1.0;
  double offset = 0.0;
  std::optional<double> min, max;  // in the metric's unit
};

class field_mapping {
 public:
  field_mapping() = default;
  // `fields`: validated [[….field]] tables (check_field_table passed).
  field_mapping(const std::vector<driver_table>& fields, bool builtin_codec_names);

  // Device time and sequence number inside the mapped object (json_mapping).
  void set_time(std::string_view pointer, time_format format);
  void set_sequence(std::string_view pointer);
  // Units the installer registered for a device's codec fields, for names
  // whose unit neither the name nor a suffix says (docs/devices.md). May be null.
  void set_registry(const device_registry* registry) { registry_ = registry; }

  // Reads `root` (consumed) and adds readings, field rejections, device time
  // and sequence to `out`. Returns a rejection of the whole message only when
  // the JSON inside `root` is broken (malformed_json).
  std::optional<rejection> apply(simdjson::ondemand::object root, decoded_message& out) const;

  std::size_t field_count() const { return rules_.size(); }

 private:
  struct node {
    std::string token;             // unescaped reference token
    std::vector<std::size_t> children;
    int rule = -1;                 // index into rules_
    bool is_time = false, is_sequence = false;
  };
  std::size_t add_path(std::string_view pointer);
  struct walk_state;
  void walk(simdjson::ondemand::value value, std::size_t at, int depth, walk_state& state) const;
  void walk_object(simdjson::ondemand::object object, std::size_t at, int depth, walk_state& state) const;
  void visit(simdjson::ondemand::value value, std::string_view key, std::size_t child, int depth, walk_state& state) const;
  void read_leaf(simdjson::ondemand::value value, const node& where, walk_state& state) const;
  void read_codec_value(simdjson::ondemand::value value, std::string_view key, walk_state& state) const;

  std::vector<node> nodes_{node{}};  // nodes_[0]: the root
  std::vector<field_rule> rules_;
  std::string time_pointer_, sequence_pointer_;
  time_format time_format_ = time_format::iso8601;
  bool codec_names_ = false;
  const device_registry* registry_ = nullptr;
};

// ---- declaration of the [[….field]] tables, shared by the drivers ----------

// The members of one field table (pointer, metric, unit, scale, offset, min, max).
extern const std::array<driver_option, 7> field_table_members;
// Cross-key check of one field table: metric known, unit convertible, min < max.
table_problem check_field_table(const driver_table& table);
// The same checks for any table with metric, unit, scale, offset, min and max
// (Sparkplug's mappings too). unit_required: a number needs a configured
// unit (false where the device may name it, as Sparkplug's engUnit does).
table_problem check_conversion_table(const driver_table& table, bool unit_required);
// A canonical metric's name (docs/metrics.md). "" when valid.
std::string check_metric_name(std::string_view name);
// RFC 6901 syntax: "" or "/…", '~' only as "~0" or "~1". "" when valid.
std::string check_json_pointer(std::string_view pointer);

}  // namespace communegw
