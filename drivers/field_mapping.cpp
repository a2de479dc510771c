// Field mapping. Reads in this order: the built-in codec names, the field
// table declaration and its checks, building the pointer tree, applying it.
#include "drivers/field_mapping.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "drivers/json_field.hpp"
#include "drivers/readings.hpp"
#include "drivers/units.hpp"
#include "gateway/model/timestamp.hpp"
#include "gateway/registry/device_registry.hpp"

namespace communegw {
namespace {

// ---- built-in codec names --------------------------------------------------

// Member names that common LoRaWAN payload codecs use (The Things Network
// device repository's normalised names, Milesight, Dragino, NAS UL20xx/CM30xx
// after their "__<unit>" suffix is cut off). `unit` is the unit a bare name is
// known to mean; empty: only a "__<unit>" suffix says it (a bare "voltage" may
// be V or mV, so it is refused as unit unknown rather than guessed).
struct codec_name {
  std::string_view name;
  std::string_view metric;
  std::string_view unit;
};
constexpr std::array codec_names{
    codec_name{"active_energy", "energy", ""},
    codec_name{"active_power", "power", ""},
    codec_name{"air_temperature", "temperature", "°C"},
    codec_name{"barometric_pressure", "pressure", "hPa"},
    codec_name{"battery_voltage", "battery_voltage", ""},
    codec_name{"co2", "co2", "ppm"},
    codec_name{"conductivity", "soil_conductivity", "µS/cm"},
    codec_name{"dew_point", "dew_point", "°C"},
    codec_name{"current", "current", ""},
    codec_name{"dimming_level", "dim_level", ""},
    codec_name{"energy", "energy", ""},
    codec_name{"humidity", "humidity", "%"},
    codec_name{"illuminance", "illuminance", "lx"},
    codec_name{"illumination", "illuminance", "lx"},
    codec_name{"lamp_on", "lamp_on", ""},
    codec_name{"light_sensor", "illuminance", ""},
    codec_name{"mains_voltage", "voltage", ""},
    codec_name{"mcu_temperature", "controller_temperature", ""},
    codec_name{"pm1", "pm1", "µg/m³"},
    codec_name{"pm10", "pm10", "µg/m³"},
    codec_name{"pm25", "pm2_5", "µg/m³"},
    codec_name{"pm2_5", "pm2_5", "µg/m³"},
    codec_name{"power", "power", ""},
    codec_name{"pressure", "pressure", "hPa"},
    codec_name{"relative_humidity", "humidity", "%"},
    codec_name{"soil_conductivity", "soil_conductivity", "µS/cm"},
    codec_name{"soil_moisture", "soil_moisture", "%"},
    codec_name{"soil_temperature", "soil_temperature", "°C"},
    codec_name{"temperature", "temperature", "°C"},
    codec_name{"voltage", "voltage", ""},
    codec_name{"water_temperature", "water_temperature", "°C"},
};

// Most members of a codec's output are not in the list: an open-addressing
// table on a hash of the name refuses them with one hash and rarely a compare
// (a binary search cost 19k instructions per NAS status message).
constexpr std::uint32_t name_hash(std::string_view name) {
  std::uint32_t hash = 2166136261u;  // FNV-1a
  for (const char c : name) hash = (hash ^ static_cast<unsigned char>(c)) * 16777619u;
  return hash;
}
constexpr std::size_t codec_slots = 128;  // a power of two, well above twice the names
constexpr auto codec_table = [] {
  std::array<std::int8_t, codec_slots> slots{};
  for (auto& slot : slots) slot = -1;
  for (std::size_t i = 0; i < codec_names.size(); ++i) {
    auto at = name_hash(codec_names[i].name) & (codec_slots - 1);
    while (slots[at] >= 0) at = (at + 1) & (codec_slots - 1);
    slots[at] = static_cast<std::int8_t>(i);
  }
  return slots;
}();

const codec_name* find_codec_name(std::string_view name) {
  for (auto at = name_hash(name) & (codec_slots - 1); codec_table[at] >= 0; at = (at + 1) & (codec_slots - 1)) {
    const auto& candidate = codec_names[static_cast<std::size_t>(codec_table[at])];
    if (candidate.name == name) return &candidate;
  }
  return nullptr;
}

// NAS codecs spell some units as words in their key suffixes.
std::string_view suffix_unit(std::string_view suffix) {
  if (suffix == "percent") return "%";
  return suffix;
}

constexpr int max_codec_depth = 8;  // how deep built-in names are looked for

}  // namespace

// ---- the field table declaration -------------------------------------------

std::string check_metric_name(std::string_view name) {
  if (!find_metric(name)) return fmt::format("\"{}\" is not a canonical metric (see docs/metrics.md)", name);
  return {};
}

extern const std::array<driver_option, 7> field_table_members{
    driver_option{"pointer", driver_option_kind::text, "",
                  "RFC 6901 JSON pointer to the value, e.g. \"/sensors/0/temp\" (\"~1\" stands for '/' in a key, "
                  "\"~0\" for '~').",
                  {}, &check_json_pointer, {}, true, "\"/temp\""},
    driver_option{"metric", driver_option_kind::text, "", "Canonical metric the value becomes (docs/metrics.md).", {},
                  &check_metric_name, {}, true, "\"temperature\""},
    driver_option{"unit", driver_option_kind::text, "",
                  "Unit the device sends the value in (after scale and offset), converted to the metric's unit, e.g. "
                  "\"°F\", \"mV\", \"Wh\". Required except for on/off metrics (lamp_on, switch_on); a unit that cannot "
                  "be converted stops start-up.",
                  {}, nullptr, {}, false, "\"°C\""},
    driver_option{"scale", driver_option_kind::number, "1.0",
                  "Factor applied to the raw value first: value = raw × scale + offset, in the source unit (e.g. 0.1 "
                  "for a sensor sending tenths)."},
    driver_option{"offset", driver_option_kind::number, "0.0", "Added after scale, in the source unit."},
    driver_option{"min", driver_option_kind::number, "",
                  "Smallest plausible value, in the metric's unit; below it the value is refused (out_of_range). "
                  "Without it, the metric's plausible range applies alone.",
                  {}, nullptr, {}, false, "-10.0"},
    driver_option{"max", driver_option_kind::number, "", "Largest plausible value, in the metric's unit.", {}, nullptr,
                  {}, false, "60.0"},
};

namespace {

// ---- pointers --------------------------------------------------------------

// The unescaped reference tokens of a valid pointer.
std::vector<std::string> pointer_tokens(std::string_view pointer) {
  std::vector<std::string> tokens;
  while (!pointer.empty()) {
    pointer.remove_prefix(1);  // the '/'
    const auto end = pointer.find('/');
    const auto raw = pointer.substr(0, end);
    std::string token;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size()) {
        token += raw[i + 1] == '1' ? '/' : '~';
        ++i;
      } else {
        token += raw[i];
      }
    }
    tokens.push_back(std::move(token));
    pointer = end == std::string_view::npos ? std::string_view{} : pointer.substr(end);
  }
  return tokens;
}

}  // namespace

std::string check_json_pointer(std::string_view pointer) {
  if (pointer.empty()) return {};
  if (pointer.front() != '/') return fmt::format("\"{}\" is not a JSON pointer: it must start with '/'", pointer);
  if (pointer.size() > 256) return "a JSON pointer longer than 256 characters is not plausible";
  for (std::size_t i = 0; i < pointer.size(); ++i) {
    if (pointer[i] == '~' && (i + 1 == pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1'))) {
      return fmt::format("\"{}\" is not a JSON pointer: '~' must be followed by 0 or 1", pointer);
    }
  }
  if (!simdjson::validate_utf8(pointer.data(), pointer.size())) return "the JSON pointer is not UTF-8";
  return {};
}

table_problem check_field_table(const driver_table& table) { return check_conversion_table(table, true); }

table_problem check_conversion_table(const driver_table& table, bool unit_required) {
  const auto* metric = find_metric(table.texts.at("metric"));
  const auto unit = table.texts.count("unit") ? std::string_view(table.texts.at("unit")) : std::string_view{};
  if (metric->unit == "bool") {
    if (!unit.empty() && unit != "bool") return {"unit", fmt::format("{} is on/off: leave out the unit", metric->name)};
    if (table.numbers.at("scale") != 1.0 || table.numbers.at("offset") != 0.0) {
      return {"scale", fmt::format("{} is on/off: scale and offset do not apply", metric->name)};
    }
  } else {
    if (unit.empty() && unit_required) {
      return {"metric", fmt::format("the unit the device sends {} in is required (the metric's unit is {})", metric->name,
                                    metric->unit)};
    }
    if (!unit.empty() && !to_canonical_unit(*metric, unit, 0.0)) {
      return {"unit", fmt::format("\"{}\" cannot be converted to {} ({})", unit, metric->unit, metric->name)};
    }
  }
  if (table.numbers.at("scale") == 0.0) return {"scale", "a scale of 0 makes every value 0"};
  const auto min = table.numbers.find("min");
  const auto max = table.numbers.find("max");
  if (min != table.numbers.end() && max != table.numbers.end() && !(min->second < max->second)) {
    return {"max", fmt::format("{} is not above min ({})", max->second, min->second)};
  }
  return {};
}

// ---- building ----------------------------------------------------------------

std::size_t field_mapping::add_path(std::string_view pointer) {
  std::size_t at = 0;
  for (auto& token : pointer_tokens(pointer)) {
    std::size_t next = 0;
    for (const auto child : nodes_[at].children) {
      if (nodes_[child].token == token) next = child;
    }
    if (next == 0) {
      next = nodes_.size();
      nodes_.push_back(node{std::move(token), {}, -1, false, false});
      nodes_[at].children.push_back(next);
    }
    at = next;
  }
  return at;
}

field_mapping::field_mapping(const std::vector<driver_table>& fields, bool builtin_codec_names)
    : codec_names_(builtin_codec_names) {
  for (const auto& table : fields) {
    field_rule rule;
    rule.pointer = table.texts.at("pointer");
    rule.metric = find_metric(table.texts.at("metric"));
    if (const auto unit = table.texts.find("unit"); unit != table.texts.end()) rule.unit = unit->second;
    rule.scale = table.numbers.at("scale");
    rule.offset = table.numbers.at("offset");
    if (const auto min = table.numbers.find("min"); min != table.numbers.end()) rule.min = min->second;
    if (const auto max = table.numbers.find("max"); max != table.numbers.end()) rule.max = max->second;
    const auto at = add_path(rule.pointer);
    if (nodes_[at].rule >= 0) continue;  // the first field with a pointer wins
    nodes_[at].rule = static_cast<int>(rules_.size());
    rules_.push_back(std::move(rule));
  }
}

void field_mapping::set_time(std::string_view pointer, time_format format) {
  if (pointer.empty()) return;
  time_pointer_ = pointer;
  time_format_ = format;
  nodes_[add_path(pointer)].is_time = true;
}

void field_mapping::set_sequence(std::string_view pointer) {
  if (pointer.empty()) return;
  sequence_pointer_ = pointer;
  nodes_[add_path(pointer)].is_sequence = true;
}

// ---- applying ----------------------------------------------------------------

struct field_mapping::walk_state {
  decoded_message& out;
  std::optional<rejection> broken;  // the JSON inside is malformed
  // Built-in names, settled after the walk: a configured field that read the
  // same metric in this message wins over them, whatever they hold.
  struct candidate {
    const metric_info* metric;
    double value;
    std::string_view key;              // in the parser's buffer, valid during apply()
    std::optional<rejection> problem;  // instead of a value
  };
  std::vector<candidate> codec_values;
  std::vector<const metric_info*> configured_metrics;  // read by a configured field in this message
};

namespace {

bool is_json_null(simdjson::ondemand::value value) {
  simdjson::ondemand::json_type type;
  return value.type().get(type) == simdjson::SUCCESS && type == simdjson::ondemand::json_type::null;
}

// A reading for a metric that may already have one in this message: an equal
// value is the same fact twice (a codec repeating a level per DALI address);
// a different one cannot be told apart from the first, so it is refused.
void add_once(decoded_message& out, const metric_info& metric, double value, std::string_view field) {
  for (const auto& existing : out.readings) {
    if (existing.metric != &metric) continue;
    if (existing.value != value) {
      reject_field(out, reject_reason::unknown_value,
                   fmt::format("\"{}\" = {} is a second {} in one message (the first was {})", field, value,
                               metric.name, existing.value));
    }
    return;
  }
  add_reading(out, metric, value, field);
}

}  // namespace

std::optional<rejection> field_mapping::apply(simdjson::ondemand::object root, decoded_message& out) const {
  walk_state state{out};
  walk_object(root, 0, 0, state);
  if (state.broken) return std::move(state.broken);
  for (auto& candidate : state.codec_values) {
    const auto& configured = state.configured_metrics;
    if (std::find(configured.begin(), configured.end(), candidate.metric) != configured.end()) continue;
    if (candidate.problem) out.field_rejections.push_back(std::move(*candidate.problem));
    else add_once(out, *candidate.metric, candidate.value, candidate.key);
  }
  return std::nullopt;
}

void field_mapping::walk(simdjson::ondemand::value value, std::size_t at, int depth, walk_state& state) const {
  simdjson::ondemand::json_type type;
  if (value.type().get(type)) return;
  constexpr std::size_t none = std::numeric_limits<std::size_t>::max();
  const auto child_named = [&](std::string_view token) {
    if (at == none) return none;
    for (const auto child : nodes_[at].children) {
      if (nodes_[child].token == token) return child;
    }
    return none;
  };
  if (type == simdjson::ondemand::json_type::object) {
    simdjson::ondemand::object object;
    if (const auto error = value.get_object().get(object)) {
      state.broken = rejection{reject_reason::malformed_json, simdjson::error_message(error)};
      return;
    }
    walk_object(object, at, depth, state);
  } else if (type == simdjson::ondemand::json_type::array) {
    simdjson::ondemand::array array;
    if (const auto error = value.get_array().get(array)) {
      state.broken = rejection{reject_reason::malformed_json, simdjson::error_message(error)};
      return;
    }
    std::size_t index = 0;
    char token[24];
    for (auto element : array) {
      simdjson::ondemand::value member;
      if (const auto error = element.get(member)) {
        state.broken = rejection{reject_reason::malformed_json, simdjson::error_message(error)};
        return;
      }
      std::size_t child = none;
      if (at != none) {
        const auto end = std::to_chars(token, token + sizeof token, index).ptr;
        child = child_named(std::string_view(token, static_cast<std::size_t>(end - token)));
      }
      ++index;
      visit(member, {}, child, depth, state);
      if (state.broken) return;
    }
  }
}

void field_mapping::walk_object(simdjson::ondemand::object object, std::size_t at, int depth, walk_state& state) const {
  constexpr std::size_t none = std::numeric_limits<std::size_t>::max();
  for (auto field : object) {
    std::string_view key;
    simdjson::ondemand::value member;
    if (auto error = json_field::read_member(field, key, member)) {
      state.broken = std::move(error);
      return;
    }
    std::size_t child = none;
    if (at != none) {
      for (const auto candidate : nodes_[at].children) {
        if (nodes_[candidate].token == key) child = candidate;
      }
    }
    visit(member, key, child, depth, state);
    if (state.broken) return;
  }
}

void field_mapping::visit(simdjson::ondemand::value value, std::string_view key, std::size_t child, int depth,
                          walk_state& state) const {
  constexpr std::size_t none = std::numeric_limits<std::size_t>::max();
  simdjson::ondemand::json_type type;
  if (const auto error = value.type().get(type)) {
    state.broken = rejection{reject_reason::malformed_json, simdjson::error_message(error)};
    return;
  }
  const bool container = type == simdjson::ondemand::json_type::object || type == simdjson::ondemand::json_type::array;
  if (child != none) {
    const auto& where = nodes_[child];
    const bool leaf = where.rule >= 0 || where.is_time || where.is_sequence;
    if (container && !where.children.empty()) return walk(value, child, depth + 1, state);
    if (leaf) return read_leaf(value, where, state);
    if (container) return walk(value, child, depth + 1, state);
    return;  // a scalar where the configured pointers go deeper: nothing of ours
  }
  if (!codec_names_ || depth >= max_codec_depth) return;
  if (container) return walk(value, none, depth + 1, state);
  if (!key.empty()) read_codec_value(value, key, state);
}

void field_mapping::read_leaf(simdjson::ondemand::value value, const node& where, walk_state& state) const {
  auto& out = state.out;
  if (where.is_time) {
    std::optional<std::int64_t> when;
    if (time_format_ == time_format::iso8601) {
      if (is_json_null(value)) return;
      if (const auto text = json_field::read_text(value)) when = parse_rfc3339_ms(*text);
    } else {
      const auto number = json_field::read_number(value);
      if (number.state == json_field::status::unknown) return;
      const double ms = time_format_ == time_format::epoch_s ? number.value * 1000.0 : number.value;
      // 1970 … 2200, as json_field::read_timestamp_ms accepts.
      if (number.state == json_field::status::ok && ms >= 0.0 && ms <= 7.3e12) when = std::llround(ms);
    }
    if (when) out.device_time_ms = when;
    else {
      reject_field(out, reject_reason::bad_timestamp,
                   fmt::format("\"{}\" is not a time in the configured format ({})", time_pointer_,
                               time_format_ == time_format::iso8601  ? "ISO 8601 with an offset"
                               : time_format_ == time_format::epoch_s ? "Unix seconds"
                                                                      : "Unix milliseconds"));
    }
    return;
  }
  if (where.is_sequence) {
    if (is_json_null(value)) return;
    if (const auto sequence = json_field::read_non_negative_integer(value)) out.sequence = sequence;
    else reject_field(out, reject_reason::wrong_type, fmt::format("\"{}\" is not a sequence number (an integer ≥ 0)", sequence_pointer_));
    return;
  }
  const auto& rule = rules_[static_cast<std::size_t>(where.rule)];
  const auto& metric = *rule.metric;
  state.configured_metrics.push_back(&metric);
  const bool on_off = metric.unit == "bool";
  const auto number = on_off ? json_field::read_switch(value) : json_field::read_number(value);
  if (number.state == json_field::status::unknown) {
    json_field::count_no_value(number, out, rule.pointer);
    return;
  }
  if (number.state == json_field::status::wrong_type) {
    reject_field(out, reject_reason::wrong_type,
                 fmt::format("\"{}\" is not {}", rule.pointer, on_off ? "on/off" : "a number"));
    return;
  }
  double canonical = number.value;
  if (!on_off) {
    // Validated at start-up: the unit converts to the metric's unit.
    canonical = to_canonical_unit(metric, rule.unit, number.value * rule.scale + rule.offset).value_or(NAN);
  }
  if ((rule.min && canonical < *rule.min) || (rule.max && canonical > *rule.max)) {
    reject_field(out, reject_reason::out_of_range,
                 fmt::format("\"{}\" = {} {} is outside the configured {} … {}", rule.pointer, canonical, metric.unit,
                             rule.min ? fmt::format("{}", *rule.min) : std::string("-∞"),
                             rule.max ? fmt::format("{}", *rule.max) : std::string("∞")));
    return;
  }
  add_once(out, metric, canonical, rule.pointer);
}

void field_mapping::read_codec_value(simdjson::ondemand::value value, std::string_view key, walk_state& state) const {
  // "mains_voltage__V": the name, then the unit after the last "__".
  auto name = key;
  std::string_view unit;
  if (const auto cut = key.rfind("__"); cut != std::string_view::npos && cut > 0) {
    name = key.substr(0, cut);
    unit = suffix_unit(key.substr(cut + 2));
  }
  const auto* known = find_codec_name(name);
  if (!known) return;
  const auto& metric = *find_metric(known->metric);
  const auto shown = key.substr(0, 64);
  auto refuse = [&](reject_reason reason, std::string detail) {
    state.codec_values.push_back({&metric, 0.0, shown, rejection{reason, std::move(detail)}});
  };
  const bool on_off = metric.unit == "bool";
  const auto number = on_off ? json_field::read_switch(value) : json_field::read_number(value);
  if (number.state == json_field::status::unknown) {
    if (number.said_no_value) refuse(reject_reason::no_value, fmt::format("\"{}\": the device says it has no value", shown));
    return;
  }
  if (number.state == json_field::status::wrong_type) {
    return refuse(reject_reason::wrong_type, fmt::format("\"{}\" is not {}", shown, on_off ? "on/off" : "a number"));
  }
  double canonical = number.value;
  if (!on_off) {
    if (unit.empty()) unit = known->unit;
    if (unit.empty() && registry_) unit = registry_->unit_of(state.out.device_id, key).value_or(std::string_view{});
    if (unit.empty()) {
      return refuse(reject_reason::unknown_value,
                    fmt::format("\"{}\": unit unknown (map it in a field table with its unit)", shown));
    }
    const auto converted = to_canonical_unit(metric, unit, number.value);
    if (!converted) {
      return refuse(reject_reason::unknown_value, fmt::format("\"{}\": unit \"{}\" cannot be converted to {}", shown,
                                                             unit.substr(0, 16), metric.unit));
    }
    canonical = *converted;
  }
  state.codec_values.push_back({&metric, canonical, shown, std::nullopt});
}

}  // namespace communegw
