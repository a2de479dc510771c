// Sparkplug B driver. Reads in the order every driver file uses:
// descriptor (options), topic parsing, payload decoding, factory.
//
// A Sparkplug edge node announces itself with an NBIRTH: every metric with
// its name, alias, datatype and properties (engUnit), and the bdSeq its
// will message (NDEATH) carries. Later NDATA messages name metrics by alias
// only, so they can be read only against the birth that defined them: the
// driver keeps each node's (and each device's) definitions between messages.
// Every message of a node but NDEATH carries seq, 0 … 255 then 0 again; a
// message whose seq is not the previous one + 1 means messages were lost, and
// a Sparkplug host answers that with a rebirth request. The gateway never
// publishes, so it records the gap as an event (`sparkplug_rebirth_needed`)
// and keeps the data it did get.
#include "drivers/sparkplug/sparkplug_driver.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "drivers/availability_word.hpp"
#include "drivers/device_name.hpp"
#include "drivers/field_mapping.hpp"
#include "drivers/json_field.hpp"
#include "drivers/readings.hpp"
#include "drivers/sparkplug/sparkplug_b.pb.h"
#include "drivers/units.hpp"
#include "gateway/model/received_message.hpp"
#include "gateway/registry/device_registry.hpp"

namespace communegw {
namespace {

namespace spb = sparkplug_b;

// STATE/+: a Sparkplug 2.x host application's state, outside the namespace.
constexpr std::array<std::string_view, 2> default_topics{"spBv1.0/#", "STATE/+"};

// ---- options ----------------------------------------------------------------

constexpr std::size_t max_metric_name_bytes = 256;

std::string check_sparkplug_metric_name(std::string_view name) {
  if (name.empty()) return "a metric name cannot be empty";
  if (name.size() > max_metric_name_bytes)
    return fmt::format("a metric name longer than {} bytes is not plausible", max_metric_name_bytes);
  if (!simdjson::validate_utf8(name.data(), name.size())) return "the metric name is not UTF-8";
  return {};
}

// The unit may come from the metric's engUnit at birth, so it is optional here.
table_problem check_mapping_table(const driver_table& table) { return check_conversion_table(table, false); }

const std::array<driver_option, 7> mapping_members{
    driver_option{"name",
                  driver_option_kind::text,
                  "",
                  "The Sparkplug metric name exactly as the edge node's birth certificate gives it, folders included "
                  "(\"Sensors/Temperature\").",
                  {},
                  &check_sparkplug_metric_name,
                  {},
                  true,
                  "\"Sensors/Temperature\""},
    driver_option{"metric",
                  driver_option_kind::text,
                  "",
                  "Canonical metric the value becomes (docs/metrics.md).",
                  {},
                  &check_metric_name,
                  {},
                  true,
                  "\"temperature\""},
    driver_option{"unit",
                  driver_option_kind::text,
                  "",
                  "Unit of the value when the birth certificate gives the metric no engUnit property (an engUnit "
                  "wins). Without either, each value is refused as unit unknown. Not for on/off metrics.",
                  {},
                  nullptr,
                  {},
                  false,
                  "\"°C\""},
    driver_option{"scale", driver_option_kind::number, "1.0",
                  "Factor applied to the raw value first: value = raw × scale + offset, in the source unit (e.g. 0.1 "
                  "for a register in tenths)."},
    driver_option{"offset", driver_option_kind::number, "0.0", "Added after scale, in the source unit."},
    driver_option{"min",
                  driver_option_kind::number,
                  "",
                  "Smallest plausible value, in the metric's unit; below it the value is refused (out_of_range). "
                  "Without it, the metric's plausible range applies alone.",
                  {},
                  nullptr,
                  {},
                  false,
                  "-10.0"},
    driver_option{"max",
                  driver_option_kind::number,
                  "",
                  "Largest plausible value, in the metric's unit.",
                  {},
                  nullptr,
                  {},
                  false,
                  "60.0"},
};

const std::array<driver_option, 2> options{
    driver_option{"device_kind", driver_option_kind::choice, "\"environment\"",
                  "Device kind recorded for every edge node and device of this driver.", device_kind_choices},
    driver_option{"mapping",
                  driver_option_kind::table_list,
                  "",
                  "A Sparkplug metric (by name, as its birth certificate defines it) and the canonical metric it "
                  "becomes. Metrics without a mapping are not stored.",
                  {},
                  nullptr,
                  mapping_members,
                  false,
                  {},
                  &check_mapping_table},
};

struct metric_rule {
  const metric_info* metric = nullptr;
  std::string unit;  // configured source unit; empty: the engUnit must say
  double scale = 1.0, offset = 0.0;
  std::optional<double> min, max;
};

// ---- topic ----------------------------------------------------------------

enum class message_type { nbirth, ndeath, ndata, ncmd, dbirth, ddeath, ddata, dcmd, state };

struct sparkplug_topic {
  message_type type = message_type::ndata;
  std::string_view group, node, device;  // device: D* messages only
  std::string_view host;                 // STATE only
  bool legacy_state = false;             // STATE/<host id> of Sparkplug 2.x: plain ONLINE/OFFLINE
};

std::optional<message_type> parse_message_type(std::string_view word) {
  constexpr std::array<std::pair<std::string_view, message_type>, 8> words{{
      {"NBIRTH", message_type::nbirth},
      {"NDEATH", message_type::ndeath},
      {"NDATA", message_type::ndata},
      {"NCMD", message_type::ncmd},
      {"DBIRTH", message_type::dbirth},
      {"DDEATH", message_type::ddeath},
      {"DDATA", message_type::ddata},
      {"DCMD", message_type::dcmd},
  }};
  for (const auto& [text, type] : words) {
    if (word == text) return type;
  }
  return std::nullopt;
}

bool is_device_message(message_type type) {
  return type == message_type::dbirth || type == message_type::ddeath || type == message_type::ddata ||
         type == message_type::dcmd;
}

// spBv1.0/<group>/<type>/<edge node>[/<device>], spBv1.0/STATE/<host id>
// (3.0) or STATE/<host id> (2.x).
std::variant<sparkplug_topic, rejection> parse_topic(std::string_view topic) {
  std::array<std::string_view, 5> levels;
  std::size_t count = 0;
  while (true) {
    if (count == levels.size()) {
      return rejection{reject_reason::unknown_topic, "more levels than spBv1.0/<group>/<type>/<edge node>/<device>"};
    }
    const auto slash = topic.find('/');
    levels[count++] = topic.substr(0, slash);
    if (slash == std::string_view::npos) break;
    topic.remove_prefix(slash + 1);
  }
  sparkplug_topic parsed;
  if (count == 2 && levels[0] == "STATE") {
    if (levels[1].empty()) return rejection{reject_reason::unknown_topic, "STATE/ without a host id"};
    parsed.type = message_type::state;
    parsed.host = levels[1];
    parsed.legacy_state = true;
    return parsed;
  }
  if (levels[0] != "spBv1.0") return rejection{reject_reason::unknown_topic, "not in the spBv1.0 namespace"};
  if (count == 3 && levels[1] == "STATE") {
    if (levels[2].empty()) return rejection{reject_reason::unknown_topic, "spBv1.0/STATE/ without a host id"};
    parsed.type = message_type::state;
    parsed.host = levels[2];
    return parsed;
  }
  const auto type = count >= 4 ? parse_message_type(levels[2]) : std::nullopt;
  if (!type) {
    return rejection{reject_reason::unknown_topic,
                     "not spBv1.0/<group>/<NBIRTH|NDATA|NDEATH|NCMD|DBIRTH|DDATA|DDEATH|DCMD>/<edge node>[/<device>]"};
  }
  if (count != (is_device_message(*type) ? 5u : 4u)) {
    return rejection{reject_reason::unknown_topic, is_device_message(*type)
                                                       ? "a device message without its device level"
                                                       : "a node message with a device level"};
  }
  parsed.type = *type;
  parsed.group = levels[1];
  parsed.node = levels[3];
  if (count == 5) parsed.device = levels[4];
  if (parsed.group.empty() || parsed.node.empty() || (count == 5 && parsed.device.empty())) {
    return rejection{reject_reason::unknown_topic, "an empty group, edge node or device id"};
  }
  return parsed;
}

// ---- payload --------------------------------------------------------------

// Datatypes of Sparkplug 3.0 (sparkplug_b.proto lists them all).
namespace type_id {
constexpr std::uint32_t int8 = 1, int16 = 2, int32 = 3, int64 = 4, uint8 = 5, uint16 = 6, uint32 = 7, uint64 = 8;
constexpr std::uint32_t float32 = 9, float64 = 10, boolean = 11, string = 12, date_time = 13, text = 14;
}  // namespace type_id

std::string datatype_name(std::uint32_t type) {
  constexpr std::array<std::string_view, 15> names{"Unknown", "Int8",    "Int16",  "Int32",    "Int64",
                                                   "UInt8",   "UInt16",  "UInt32", "UInt64",   "Float",
                                                   "Double",  "Boolean", "String", "DateTime", "Text"};
  if (type < names.size()) return std::string(names[type]);
  return fmt::format("datatype {}", type);
}

// Unix ms after 2200-01-01 is no clock reading (as json_field::read_timestamp_ms).
constexpr std::uint64_t max_plausible_ms = 7'258'118'400'000ULL;

// A metric name fit for a rejection detail: valid UTF-8, at most 64 bytes.
std::string shown(std::string_view name) {
  if (!simdjson::validate_utf8(name.data(), name.size())) return "<not UTF-8>";
  if (name.size() <= 64) return std::string(name);
  std::size_t cut = 64;
  while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;
  return std::string(name.substr(0, cut)) + "…";
}

// Bounds on what one driver instance remembers, so a hostile publisher
// inventing nodes, devices and metrics cannot exhaust the gateway's memory.
constexpr std::size_t max_nodes = 4096;
constexpr std::size_t max_devices = 65'536;       // behind all nodes together
constexpr std::size_t max_definitions = 100'000;  // all births together
constexpr std::size_t max_hosts = 256;
constexpr std::size_t max_sample_times = 1024;    // distinct sample times in one message
constexpr std::size_t max_metric_rejections = 8;  // unknown aliases reported per message

// What a birth certificate says about one metric.
struct metric_definition {
  std::string name;
  std::uint32_t type = 0;
  int rule = -1;     // index into the mapping; -1: not stored
  std::string unit;  // engUnit of the birth, else the mapping's unit; empty: unknown
};

struct birth_definitions {
  std::vector<metric_definition> metrics;
  std::unordered_map<std::uint64_t, std::uint32_t> by_alias;
  std::unordered_map<std::string, std::uint32_t> by_name;
};

struct device_state {
  std::string device_id;  // normalised
  bool born = false;
  birth_definitions definitions;
};

struct node_state {
  std::string device_id;                // normalised
  bool born = false;                    // an NBIRTH and no NDEATH since
  std::optional<std::uint64_t> bd_seq;  // of the current NBIRTH
  int last_seq = -1;                    // -1: not known
  birth_definitions definitions;
  std::unordered_map<std::string, device_state> devices;  // by the topic's device id
};

// The value of one metric as a number, before mapping.
struct metric_value {
  json_field::status state = json_field::status::unknown;
  double value = 0.0;
  bool said_no_value = false;  // with unknown: NaN, or a word such as "nan" (counted as no_value)
  reject_reason reason = reject_reason::wrong_type;  // when state is wrong_type
  std::string detail;
};

// Two's complement for signed integers of `bits` bits that travel unsigned;
// accepts a value sign-extended to 32 or 64 bits or not extended at all.
metric_value integer_value(const spb::Payload_Metric& metric, std::uint32_t type, std::string_view name) {
  metric_value out;
  const bool in_int = metric.value_case() == spb::Payload_Metric::kIntValue;
  const bool in_long = metric.value_case() == spb::Payload_Metric::kLongValue;
  if (!in_int && !in_long) {
    out.state = json_field::status::wrong_type;
    out.detail = fmt::format("\"{}\" ({}) carries no integer value", shown(name), datatype_name(type));
    return out;
  }
  const std::uint64_t raw = in_int ? metric.int_value() : metric.long_value();
  const bool is_signed = type >= type_id::int8 && type <= type_id::int64;
  const int bits = type == type_id::int8 || type == type_id::uint8     ? 8
                   : type == type_id::int16 || type == type_id::uint16 ? 16
                   : type == type_id::int32 || type == type_id::uint32 ? 32
                                                                       : 64;
  out.state = json_field::status::ok;
  if (!is_signed) {
    if (bits < 64 && raw >> bits != 0) {
      out.state = json_field::status::wrong_type;
      out.reason = reject_reason::out_of_range;
      out.detail = fmt::format("\"{}\" = {} does not fit {}", shown(name), raw, datatype_name(type));
      return out;
    }
    out.value = static_cast<double>(raw);
    return out;
  }
  // Sign-extended from the field's own width (32 bits in int_value).
  const std::int64_t extended =
      in_int ? static_cast<std::int32_t>(static_cast<std::uint32_t>(raw)) : static_cast<std::int64_t>(raw);
  if (bits == 64) {
    out.value = static_cast<double>(extended);
    return out;
  }
  const std::int64_t low = -(std::int64_t{1} << (bits - 1)), high = (std::int64_t{1} << (bits - 1)) - 1;
  if (extended >= low && extended <= high) {
    out.value = static_cast<double>(extended);
  } else if (raw >> bits == 0) {  // not extended: the type's own two's complement
    const auto wrapped = raw >= (std::uint64_t{1} << (bits - 1))
                             ? static_cast<std::int64_t>(raw) - (std::int64_t{1} << bits)
                             : static_cast<std::int64_t>(raw);
    out.value = static_cast<double>(wrapped);
  } else {
    out.state = json_field::status::wrong_type;
    out.reason = reject_reason::out_of_range;
    out.detail = fmt::format("\"{}\" = {} does not fit {}", shown(name), extended, datatype_name(type));
  }
  return out;
}

// The metric's value as a number for `target`, by the birth's datatype.
// `sample_ms`: when it was sampled (DateTime → uptime needs it).
metric_value read_value(const spb::Payload_Metric& metric, std::uint32_t type, std::string_view name,
                        const metric_info& target, std::optional<std::int64_t> sample_ms) {
  metric_value out;
  const auto wrong = [&](std::string detail) {
    out.state = json_field::status::wrong_type;
    out.detail = std::move(detail);
    return out;
  };
  const auto carries = [&](auto value_case) { return metric.value_case() == value_case; };
  switch (type) {
    case type_id::int8:
    case type_id::int16:
    case type_id::int32:
    case type_id::int64:
    case type_id::uint8:
    case type_id::uint16:
    case type_id::uint32:
    case type_id::uint64:
      return integer_value(metric, type, name);
    case type_id::float32:
    case type_id::float64: {
      double value = 0;
      if (carries(spb::Payload_Metric::kFloatValue))
        value = metric.float_value();
      else if (carries(spb::Payload_Metric::kDoubleValue))
        value = metric.double_value();
      else
        return wrong(fmt::format("\"{}\" ({}) carries no floating-point value", shown(name), datatype_name(type)));
      if (std::isnan(value)) {  // NaN: no valid value, like "nan" in JSON
        out.said_no_value = true;
        return out;
      }
      out.state = json_field::status::ok;
      out.value = value;
      return out;
    }
    case type_id::boolean:
      if (!carries(spb::Payload_Metric::kBooleanValue))
        return wrong(fmt::format("\"{}\" (Boolean) carries no boolean value", shown(name)));
      out.state = json_field::status::ok;
      out.value = metric.boolean_value() ? 1.0 : 0.0;
      return out;
    case type_id::string:
    case type_id::text: {
      if (!carries(spb::Payload_Metric::kStringValue))
        return wrong(fmt::format("\"{}\" ({}) carries no text", shown(name), datatype_name(type)));
      const std::string_view text = metric.string_value();
      if (json_field::means_unknown(text)) {
        out.said_no_value = !text.empty();
        return out;
      }
      if (const auto number = json_field::parse_number_text(text)) {
        out.state = json_field::status::ok;
        out.value = *number;
        return out;
      }
      if (const auto on = target.unit == "bool" ? json_field::read_on_off_word(text) : std::nullopt)
        out.value = *on ? 1.0 : 0.0;
      else
        return wrong(fmt::format("\"{}\" = \"{}\" is not a number", shown(name), shown(text.substr(0, 32))));
      out.state = json_field::status::ok;
      return out;
    }
    case type_id::date_time: {
      // A point in time is no reading, except as a boot time: uptime is the
      // time from it to the sample.
      if (target.name != "uptime") {
        return wrong(
            fmt::format("\"{}\" is a DateTime: only uptime can be derived from one (a boot time)", shown(name)));
      }
      if (!carries(spb::Payload_Metric::kLongValue))
        return wrong(fmt::format("\"{}\" (DateTime) carries no long value", shown(name)));
      if (!sample_ms || metric.long_value() > max_plausible_ms) {
        out.state = json_field::status::wrong_type;
        out.reason = reject_reason::bad_timestamp;
        out.detail = fmt::format("\"{}\": no sample time, or a DateTime after 2200", shown(name));
        return out;
      }
      out.state = json_field::status::ok;
      out.value = static_cast<double>(*sample_ms - static_cast<std::int64_t>(metric.long_value())) / 1000.0;
      return out;
    }
    default:
      return wrong(fmt::format("\"{}\" is a {}: not a reading", shown(name), datatype_name(type)));
  }
}

// Properties of a metric the driver reads: engUnit (or EngUnit) and Quality.
struct metric_properties {
  std::optional<std::string_view> unit;
  std::optional<std::uint32_t> quality;  // 0 BAD, 192 GOOD, 500 STALE
};

metric_properties read_properties(const spb::Payload_Metric& metric) {
  metric_properties out;
  if (!metric.has_properties()) return out;
  const auto& set = metric.properties();
  const int count = std::min(set.keys_size(), set.values_size());
  for (int i = 0; i < count; ++i) {
    const std::string_view key = set.keys(i);
    const auto& value = set.values(i);
    if (value.is_null()) continue;
    if ((key == "engUnit" || key == "EngUnit") && value.value_case() == spb::Payload_PropertyValue::kStringValue) {
      out.unit = value.string_value();
    } else if (key == "Quality" && value.value_case() == spb::Payload_PropertyValue::kIntValue) {
      out.quality = value.int_value();
    }
  }
  return out;
}

class sparkplug_driver final : public driver {
 public:
  explicit sparkplug_driver(const driver_settings& settings);
  decode_result decode(std::string_view topic, std::string_view payload) override;
  void release_memory() override {
    json_field::release(parser_, buffer_);
    spb::Payload().Swap(&payload_);  // its repeated fields keep their capacity otherwise
  }

 private:
  decode_result decode_state(std::string_view host, std::string_view payload);
  decode_result decode_legacy_state(std::string_view host, std::string_view payload);
  node_state* find_node(std::string_view group, std::string_view node);
  std::variant<node_state*, rejection> node_for_birth(std::string_view group, std::string_view node);
  std::optional<rejection> define(birth_definitions& into, decoded_message& out, std::vector<int>& positions);
  void check_seq(node_state& node, decoded_message& out);
  void note_seq(node_state& node) const;
  void read_metrics(const birth_definitions& definitions, const std::vector<int>* birth_positions,
                    decoded_message& out);
  void add_sample(decoded_message& out, std::optional<std::int64_t> sample_ms, const metric_info& metric, double value,
                  std::string_view name);
  std::optional<std::uint64_t> bd_seq_of_payload() const;
  void forget(birth_definitions& definitions);

  device_kind kind_ = device_kind::environment;
  const device_registry* registry_ = nullptr;  // units the installer registered; may be null
  std::vector<metric_rule> rules_;
  std::unordered_map<std::string, std::size_t> rule_by_name_;

  std::unordered_map<std::string, node_state> nodes_;          // by "<group>/<edge node>" of the topic
  std::unordered_map<std::string, std::uint64_t> host_times_;  // STATE: the newest timestamp per host id
  std::size_t definitions_ = 0;                                // held by all births together
  std::size_t devices_ = 0;                                    // tracked behind all nodes together

  spb::Payload payload_;    // reused: its repeated fields keep their memory between messages
  std::string key_;         // reused for look-ups: "<group>/<edge node>"
  std::string device_key_;  // and the device id of the topic
  std::vector<int> positions_;
  std::optional<std::int64_t> payload_ms_;  // the payload's timestamp, when plausible
  simdjson::ondemand::parser parser_;
  json_field::padded_buffer buffer_;
};

sparkplug_driver::sparkplug_driver(const driver_settings& settings) : registry_(settings.registry) {
  if (const auto it = settings.texts.find("device_kind"); it != settings.texts.end() && it->second == "streetlight") {
    kind_ = device_kind::streetlight;
  }
  if (const auto tables = settings.tables.find("mapping"); tables != settings.tables.end()) {
    for (const auto& table : tables->second) {
      metric_rule rule;
      rule.metric = find_metric(table.texts.at("metric"));
      if (const auto unit = table.texts.find("unit"); unit != table.texts.end()) rule.unit = unit->second;
      rule.scale = table.numbers.at("scale");
      rule.offset = table.numbers.at("offset");
      if (const auto min = table.numbers.find("min"); min != table.numbers.end()) rule.min = min->second;
      if (const auto max = table.numbers.find("max"); max != table.numbers.end()) rule.max = max->second;
      // The first mapping of a name wins.
      if (rule_by_name_.emplace(table.texts.at("name"), rules_.size()).second) rules_.push_back(std::move(rule));
    }
  }
}

// Sparkplug 2.x STATE/<host id>: the host application's birth and will as
// the plain text ONLINE or OFFLINE (retained). It carries no timestamp, so a
// late will cannot be told from a new one: each is taken as it comes.
decode_result sparkplug_driver::decode_legacy_state(std::string_view host, std::string_view payload) {
  auto id = normalise_device_id("sparkplug-host/", host);
  if (!id) return rejection{reject_reason::unknown_topic, "the host id is not valid UTF-8 text"};
  if (!simdjson::validate_utf8(payload.data(), payload.size())) {
    return rejection{reject_reason::binary_payload, "payload is not UTF-8 text"};
  }
  const auto state = parse_availability_word(payload);
  if (!state) {
    return rejection{reject_reason::unknown_value,
                     fmt::format("a Sparkplug 2.x STATE must be ONLINE or OFFLINE, not \"{}\"", payload.substr(0, 32))};
  }
  decoded_message out;
  out.device_id = std::move(*id);
  out.kind = device_kind::gateway;
  out.reported_availability = state;
  return out;
}

node_state* sparkplug_driver::find_node(std::string_view group, std::string_view node) {
  key_.assign(group).append(1, '/').append(node);
  const auto it = nodes_.find(key_);
  return it == nodes_.end() ? nullptr : &it->second;
}

std::variant<node_state*, rejection> sparkplug_driver::node_for_birth(std::string_view group, std::string_view node) {
  if (auto* known = find_node(group, node)) return known;
  if (nodes_.size() >= max_nodes) {
    return rejection{reject_reason::out_of_range,
                     fmt::format("more than {} edge nodes: this one is not tracked", max_nodes)};
  }
  auto id = normalise_device_id("sparkplug/", key_);
  if (!id) return rejection{reject_reason::unknown_topic, "the group or edge node id is not valid UTF-8 text"};
  auto& created = nodes_[key_];
  created.device_id = std::move(*id);
  return &created;
}

void sparkplug_driver::forget(birth_definitions& definitions) {
  definitions_ -= definitions.metrics.size();
  definitions = {};
}

std::optional<std::uint64_t> sparkplug_driver::bd_seq_of_payload() const {
  for (const auto& metric : payload_.metrics()) {
    if (metric.name() != "bdSeq") continue;
    if (metric.value_case() == spb::Payload_Metric::kLongValue) return metric.long_value();
    if (metric.value_case() == spb::Payload_Metric::kIntValue) return metric.int_value();
  }
  return std::nullopt;
}

// Replaces `into` with the metrics of the birth in payload_. `positions`
// gets, for each metric of the payload, its definition (-1: refused).
std::optional<rejection> sparkplug_driver::define(birth_definitions& into, decoded_message& out,
                                                  std::vector<int>& positions) {
  forget(into);
  const auto count = static_cast<std::size_t>(payload_.metrics_size());
  if (definitions_ + count > max_definitions) {
    return rejection{reject_reason::out_of_range,
                     fmt::format("{} metric definitions would be more than the {} this driver keeps",
                                 definitions_ + count, max_definitions)};
  }
  positions.assign(count, -1);
  into.metrics.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const auto& metric = payload_.metrics(static_cast<int>(i));
    const std::string_view name = metric.name();
    if (name.empty()) {
      reject_field(out, reject_reason::missing_field, fmt::format("birth metric #{} has no name", i));
      continue;
    }
    if (!check_sparkplug_metric_name(name).empty()) {
      reject_field(
          out, reject_reason::wrong_type,
          fmt::format("birth metric #{}: the name is not UTF-8 text of at most {} bytes", i, max_metric_name_bytes));
      continue;
    }
    if (!metric.has_datatype()) {
      reject_field(out, reject_reason::missing_field, fmt::format("birth metric \"{}\" has no datatype", shown(name)));
      continue;
    }
    const auto index = static_cast<std::uint32_t>(into.metrics.size());
    if (metric.has_alias() && !into.by_alias.emplace(metric.alias(), index).second) {
      reject_field(out, reject_reason::unknown_value,
                   fmt::format("alias {} of \"{}\" is already \"{}\"", metric.alias(), shown(name),
                               shown(into.metrics[into.by_alias.at(metric.alias())].name)));
      continue;
    }
    if (!into.by_name.emplace(std::string(name), index).second) {
      if (metric.has_alias()) into.by_alias.erase(metric.alias());
      reject_field(out, reject_reason::unknown_value, fmt::format("\"{}\" is defined twice in the birth", shown(name)));
      continue;
    }
    metric_definition definition;
    definition.name = name;
    definition.type = metric.datatype();
    if (const auto rule = rule_by_name_.find(definition.name); rule != rule_by_name_.end()) {
      definition.rule = static_cast<int>(rule->second);
      const auto properties = read_properties(metric);
      definition.unit = properties.unit ? std::string(*properties.unit) : rules_[rule->second].unit;
    }
    into.metrics.push_back(std::move(definition));
    positions[i] = static_cast<int>(index);
  }
  definitions_ += into.metrics.size();
  return std::nullopt;
}

// For a message refused before its metrics are read: its seq still counts,
// so the next message is not taken for a gap.
void sparkplug_driver::note_seq(node_state& node) const {
  if (payload_.has_seq() && payload_.seq() <= 255) node.last_seq = static_cast<int>(payload_.seq());
}

void sparkplug_driver::check_seq(node_state& node, decoded_message& out) {
  if (!payload_.has_seq()) {
    reject_field(out, reject_reason::missing_field, "no seq: the message cannot be checked for lost messages");
    return;
  }
  const auto seq = payload_.seq();
  if (seq > 255) {
    reject_field(out, reject_reason::out_of_range, fmt::format("seq {} is outside 0 … 255", seq));
    return;
  }
  const int received = static_cast<int>(seq);
  // The same seq again is the same message again (an MQTT redelivery).
  if (node.last_seq >= 0 && received != node.last_seq) {
    const int expected = (node.last_seq + 1) & 0xFF;
    if (received != expected) {
      event gap;
      gap.kind = "sparkplug_rebirth_needed";
      gap.level = severity::warning;
      gap.start_ms = payload_ms_;
      gap.attributes_json = fmt::format(R"({{"cause":"seq_gap","expected":{},"received":{},"missed":{}}})", expected,
                                        received, (received - expected) & 0xFF);
      // The seq is the edge node's, whichever of its devices the message is from.
      if (out.device_id == node.device_id) {
        out.events.push_back(std::move(gap));
      } else {
        decoded_message for_node;
        for_node.device_id = node.device_id;
        for_node.kind = kind_;
        for_node.device_time_ms = payload_ms_;
        for_node.events.push_back(std::move(gap));
        out.other_devices.push_back(std::move(for_node));
      }
    }
  }
  node.last_seq = received;
}

// A reading goes into the part of `out` for its sample time: the message
// itself for the payload's time, one more part (same device) per other time.
void sparkplug_driver::add_sample(decoded_message& out, std::optional<std::int64_t> sample_ms,
                                  const metric_info& metric, double value, std::string_view name) {
  decoded_message* part = nullptr;
  if (sample_ms == out.device_time_ms) {
    part = &out;
  } else {
    for (auto& other : out.other_devices) {
      if (other.device_id == out.device_id && other.device_time_ms == sample_ms) part = &other;
    }
    if (!part) {
      if (out.other_devices.size() >= max_sample_times) {
        reject_field(out, reject_reason::out_of_range,
                     fmt::format("\"{}\": more than {} sample times in one message", shown(name), max_sample_times));
        return;
      }
      decoded_message fresh;
      fresh.device_id = out.device_id;
      fresh.kind = out.kind;
      fresh.device_time_ms = sample_ms;
      out.other_devices.push_back(std::move(fresh));
      part = &out.other_devices.back();
    }
  }
  // One value per metric and time: the same again is the same fact twice, a
  // different one cannot be told from the first.
  for (const auto& existing : part->readings) {
    if (existing.metric != &metric) continue;
    if (existing.value != value) {
      reject_field(out, reject_reason::unknown_value,
                   fmt::format("\"{}\" = {} is a second {} for one time (the first was {})", shown(name), value,
                               metric.name, existing.value));
    }
    return;
  }
  const auto before = part->readings.size();
  add_reading(*part, metric, value, shown(name));
  if (part != &out && part->readings.size() == before) {
    // add_reading refused it into the part: keep every rejection on the message itself.
    out.field_rejections.push_back(std::move(part->field_rejections.back()));
    part->field_rejections.pop_back();
  }
}

// The metrics of payload_: of a birth (`birth_positions`: the definition of
// each metric) or of data (by alias, or by name where no alias is used).
void sparkplug_driver::read_metrics(const birth_definitions& definitions, const std::vector<int>* birth_positions,
                                    decoded_message& out) {
  std::size_t unknown = 0;
  for (int i = 0; i < payload_.metrics_size(); ++i) {
    const auto& metric = payload_.metrics(i);
    const metric_definition* definition = nullptr;
    if (birth_positions) {
      const int at = (*birth_positions)[static_cast<std::size_t>(i)];
      if (at >= 0)
        definition = &definitions.metrics[static_cast<std::size_t>(at)];
      else
        continue;  // refused by define()
    } else {
      if (metric.has_alias()) {
        if (const auto it = definitions.by_alias.find(metric.alias()); it != definitions.by_alias.end()) {
          definition = &definitions.metrics[it->second];
        }
      } else if (metric.has_name()) {
        if (const auto it = definitions.by_name.find(metric.name()); it != definitions.by_name.end()) {
          definition = &definitions.metrics[it->second];
        }
      }
      if (!definition) {
        if (++unknown <= max_metric_rejections) {
          reject_field(
              out, reject_reason::unknown_alias,
              metric.has_alias()
                  ? fmt::format("alias {} is not defined by the birth certificate (rebirth needed)", metric.alias())
                  : fmt::format("\"{}\" is not defined by the birth certificate (rebirth needed)",
                                shown(metric.name())));
        }
        continue;
      }
    }
    if (definition->rule < 0 || metric.is_transient()) continue;  // not mapped; transient: not for a historian
    const auto& rule = rules_[static_cast<std::size_t>(definition->rule)];
    const auto& target = *rule.metric;
    const std::string_view name = definition->name;
    if (!birth_positions && metric.has_datatype() && metric.datatype() != definition->type) {
      reject_field(out, reject_reason::wrong_type,
                   fmt::format("\"{}\" arrives as {}, its birth said {}", shown(name), datatype_name(metric.datatype()),
                               datatype_name(definition->type)));
      continue;
    }
    std::optional<std::int64_t> sample_ms = payload_ms_;
    if (metric.has_timestamp()) {
      if (metric.timestamp() > max_plausible_ms) {
        reject_field(out, reject_reason::bad_timestamp,
                     fmt::format("\"{}\": timestamp {} is after 2200", shown(name), metric.timestamp()));
        continue;
      }
      sample_ms = static_cast<std::int64_t>(metric.timestamp());
    }
    if (metric.is_null()) continue;  // unknown, never 0
    const auto properties = read_properties(metric);
    if (properties.quality && (*properties.quality == 0 || *properties.quality == 500)) {
      reject_field(out, reject_reason::device_error,
                   fmt::format("\"{}\": the edge node marks the value {}", shown(name),
                               *properties.quality == 0 ? "BAD" : "STALE"));
      continue;
    }
    auto value = read_value(metric, definition->type, name, target, sample_ms);
    if (value.state == json_field::status::unknown) {
      if (value.said_no_value) {
        reject_field(out, reject_reason::no_value, fmt::format("\"{}\": the edge node says it has no value", shown(name)));
      }
      continue;
    }
    if (value.state == json_field::status::wrong_type) {
      reject_field(out, value.reason, std::move(value.detail));
      continue;
    }
    double canonical = value.value;
    // A DateTime became seconds of uptime above; everything else is in its source unit.
    if (target.unit != "bool" && definition->type != type_id::date_time) {
      std::string_view unit = properties.unit ? *properties.unit : std::string_view(definition->unit);
      // What the installer registered for this metric of the device (docs/devices.md).
      if (unit.empty() && registry_) unit = registry_->unit_of(out.device_id, name).value_or(std::string_view{});
      if (unit.empty()) {
        reject_field(
            out, reject_reason::unknown_value,
            fmt::format("\"{}\": unit unknown (no engUnit in the birth, no unit in its mapping or the registry)",
                        shown(name)));
        continue;
      }
      const auto converted = to_canonical_unit(target, unit, value.value * rule.scale + rule.offset);
      if (!converted) {
        reject_field(out, reject_reason::unknown_value,
                     fmt::format("\"{}\": unit \"{}\" cannot be converted to {}", shown(name),
                                 shown(unit.substr(0, 16)), target.unit));
        continue;
      }
      canonical = *converted;
    }
    if ((rule.min && canonical < *rule.min) || (rule.max && canonical > *rule.max)) {
      reject_field(out, reject_reason::out_of_range,
                   fmt::format("\"{}\" = {} {} is outside the configured {} … {}", shown(name), canonical, target.unit,
                               rule.min ? fmt::format("{}", *rule.min) : std::string("-∞"),
                               rule.max ? fmt::format("{}", *rule.max) : std::string("∞")));
      continue;
    }
    add_sample(out, sample_ms, target, canonical, name);
  }
  if (unknown > max_metric_rejections) {
    reject_field(out, reject_reason::unknown_alias,
                 fmt::format("{} more metrics not defined by the birth certificate", unknown - max_metric_rejections));
  }
}

decode_result sparkplug_driver::decode(std::string_view topic, std::string_view payload) {
  auto where_or_error = parse_topic(topic);
  if (auto* error = std::get_if<rejection>(&where_or_error)) return std::move(*error);
  const auto& where = std::get<sparkplug_topic>(where_or_error);
  if (where.type == message_type::state) {
    return where.legacy_state ? decode_legacy_state(where.host, payload) : decode_state(where.host, payload);
  }
  // Commands travel from a host to the node: what someone asked for, not
  // what the device measured.
  if (where.type == message_type::ncmd || where.type == message_type::dcmd) {
    return ignored_message(ignore_reason::ignored_topic);
  }

  if (payload.size() > static_cast<std::size_t>(INT_MAX))
    return rejection{reject_reason::oversized_payload, "over 2 GiB"};
  payload_.Clear();
  if (!payload_.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return rejection{reject_reason::malformed_protobuf, "not a Sparkplug B payload (protobuf)"};
  }
  decoded_message out;
  out.kind = kind_;
  payload_ms_.reset();
  if (payload_.has_timestamp()) {
    if (payload_.timestamp() <= max_plausible_ms)
      payload_ms_ = static_cast<std::int64_t>(payload_.timestamp());
    else
      reject_field(out, reject_reason::bad_timestamp,
                   fmt::format("payload timestamp {} is after 2200", payload_.timestamp()));
  }
  out.device_time_ms = payload_ms_;
  // A redelivery is the same bytes; seq alone repeats every 256 messages, and
  // the timestamp in the bytes tells those apart. Without a timestamp two
  // equal messages may both be real: no identity, never merged.
  if (payload_ms_) out.identity = message_identity(topic, payload);

  switch (where.type) {
    case message_type::nbirth: {
      auto found = node_for_birth(where.group, where.node);
      if (auto* error = std::get_if<rejection>(&found)) return std::move(*error);
      auto& node = *std::get<node_state*>(found);
      out.device_id = node.device_id;
      // A new birth: every device of the node must be born again too.
      for (auto& entry : node.devices) {
        entry.second.born = false;
        forget(entry.second.definitions);
      }
      node.born = false;
      if (auto error = define(node.definitions, out, positions_)) return std::move(*error);
      node.born = true;
      node.bd_seq = bd_seq_of_payload();
      if (!node.bd_seq)
        reject_field(out, reject_reason::missing_field,
                     "no bdSeq metric: a later NDEATH cannot be matched to this birth");
      node.last_seq = -1;
      check_seq(node, out);
      out.reported_availability = availability::online;
      read_metrics(node.definitions, &positions_, out);
      return out;
    }
    case message_type::ndata: {
      auto* node = find_node(where.group, where.node);
      if (!node || !node->born) {
        if (node) note_seq(*node);
        return rejection{reject_reason::unknown_alias,
                         "no NBIRTH of this edge node since the gateway started or since its NDEATH: its metrics "
                         "cannot be read (rebirth needed)"};
      }
      out.device_id = node->device_id;
      check_seq(*node, out);
      read_metrics(node->definitions, nullptr, out);
      return out;
    }
    case message_type::ndeath: {
      auto* node = find_node(where.group, where.node);
      const auto bd_seq = bd_seq_of_payload();
      // The will of an earlier connection, delivered after the node was born
      // again: the node is not gone.
      if (node && node->bd_seq && bd_seq && *bd_seq != *node->bd_seq) return ignored_message(ignore_reason::superseded);
      auto id = node ? std::optional<std::string>(node->device_id) : normalise_device_id("sparkplug/", key_);
      if (!id) return rejection{reject_reason::unknown_topic, "the group or edge node id is not valid UTF-8 text"};
      out.device_id = std::move(*id);
      out.device_time_ms.reset();  // nothing sampled
      out.identity = 0;
      out.reported_availability = availability::offline;
      if (!bd_seq)
        reject_field(out, reject_reason::missing_field, "no bdSeq metric: a stale NDEATH cannot be told from this one");
      if (node) {
        for (auto& entry : node->devices) {
          auto& device = entry.second;
          if (!device.born) continue;
          decoded_message gone;
          gone.device_id = device.device_id;
          gone.kind = kind_;
          gone.reported_availability = availability::offline;
          out.other_devices.push_back(std::move(gone));
          device.born = false;
          forget(device.definitions);
        }
        node->born = false;
        node->last_seq = -1;
        forget(node->definitions);
      }
      return out;
    }
    case message_type::dbirth:
    case message_type::ddata:
    case message_type::ddeath: {
      // A device birth is complete in itself: it is read even when the node's
      // birth came before the gateway started.
      node_state* node = nullptr;
      if (where.type == message_type::ddata) {
        node = find_node(where.group, where.node);
      } else {
        auto found = node_for_birth(where.group, where.node);
        if (auto* error = std::get_if<rejection>(&found)) return std::move(*error);
        node = std::get<node_state*>(found);
      }
      device_key_.assign(where.device);
      device_state* device = nullptr;
      if (node) {
        if (const auto known = node->devices.find(device_key_); known != node->devices.end()) device = &known->second;
      }
      if (where.type == message_type::ddata) {
        if (!device || !device->born) {
          if (node) note_seq(*node);
          return rejection{reject_reason::unknown_alias,
                           "no DBIRTH of this device since the gateway started or since its death: its metrics "
                           "cannot be read (rebirth needed)"};
        }
        out.device_id = device->device_id;
        check_seq(*node, out);
        read_metrics(device->definitions, nullptr, out);
        return out;
      }
      if (!device && where.type == message_type::ddeath) {
        auto id = normalise_device_id("sparkplug/", key_ + "/" + device_key_);
        if (!id) return rejection{reject_reason::unknown_topic, "the device id is not valid UTF-8 text"};
        out.device_id = std::move(*id);
      } else if (!device) {
        if (devices_ >= max_devices) {
          return rejection{
              reject_reason::out_of_range,
              fmt::format("more than {} devices behind the edge nodes: this one is not tracked", max_devices)};
        }
        auto id = normalise_device_id("sparkplug/", key_ + "/" + device_key_);
        if (!id) return rejection{reject_reason::unknown_topic, "the device id is not valid UTF-8 text"};
        device = &node->devices.emplace(device_key_, device_state{std::move(*id), false, {}}).first->second;
        ++devices_;
      }
      if (device) out.device_id = device->device_id;
      check_seq(*node, out);
      if (where.type == message_type::ddeath) {
        out.reported_availability = availability::offline;
        if (device) {
          device->born = false;
          forget(device->definitions);
        }
        return out;
      }
      device->born = false;
      if (auto error = define(device->definitions, out, positions_)) return std::move(*error);
      device->born = true;
      out.reported_availability = availability::online;
      read_metrics(device->definitions, &positions_, out);
      return out;
    }
    default:
      return ignored_message(ignore_reason::ignored_topic);
  }
}

// Sparkplug 3.0 STATE: the host application's own birth and will, retained,
// {"online":true|false,"timestamp":<Unix ms>}. A STATE older than the newest
// one seen for the host is stale (a will delivered late) and changes nothing.
decode_result sparkplug_driver::decode_state(std::string_view host, std::string_view payload) {
  auto id = normalise_device_id("sparkplug-host/", host);
  if (!id) return rejection{reject_reason::unknown_topic, "the host id is not valid UTF-8 text"};
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (auto error = json_field::open_object(parser_, buffer_, payload, doc, object)) return std::move(*error);
  std::optional<bool> online;
  std::optional<std::int64_t> timestamp;
  for (auto field : object) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (auto error = json_field::read_member(field, key, value)) return std::move(*error);
    if (key == "online") {
      bool flag = false;
      if (value.get_bool().get(flag)) return rejection{reject_reason::wrong_type, "\"online\" is not true or false"};
      online = flag;
    } else if (key == "timestamp") {
      timestamp = json_field::read_non_negative_integer(value);
      if (!timestamp || *timestamp > static_cast<std::int64_t>(max_plausible_ms)) {
        return rejection{reject_reason::bad_timestamp, "\"timestamp\" is not Unix milliseconds"};
      }
    }
  }
  if (auto error = json_field::check_nothing_follows(doc)) return std::move(*error);
  if (!online) return rejection{reject_reason::missing_field, "no \"online\""};
  if (timestamp) {
    auto known = host_times_.find(std::string(host));
    if (known != host_times_.end() && static_cast<std::uint64_t>(*timestamp) < known->second) {
      return ignored_message(ignore_reason::superseded);
    }
    if (known != host_times_.end())
      known->second = static_cast<std::uint64_t>(*timestamp);
    else if (host_times_.size() < max_hosts)
      host_times_.emplace(std::string(host), static_cast<std::uint64_t>(*timestamp));
  }
  decoded_message out;
  out.device_id = std::move(*id);
  out.kind = device_kind::gateway;
  out.reported_availability = *online ? availability::online : availability::offline;
  return out;
}

// ---- factory ----------------------------------------------------------------

}  // namespace

std::unique_ptr<driver> make_sparkplug_driver(const driver_settings& settings) {
  return std::make_unique<sparkplug_driver>(settings);
}

const driver_descriptor sparkplug_driver_descriptor{
    "sparkplug",
    "Sparkplug B 3.0 edge nodes and devices (protobuf): births with aliases and engUnit, data by alias, deaths by "
    "bdSeq, seq gaps as rebirth-needed events, host STATE",
    default_topics,
    false,
    &make_sparkplug_driver,
    options,
};

}  // namespace communegw
