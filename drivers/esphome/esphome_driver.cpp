// ESPHome driver. Reads in the order every driver file uses:
// descriptor, topic parsing, payload decoding, factory.
#include "drivers/esphome/esphome_driver.hpp"

#include <array>
#include <unordered_map>

#include <fmt/format.h>
#include <simdjson.h>

#include "drivers/availability_word.hpp"
#include "drivers/device_name.hpp"
#include "drivers/json_field.hpp"
#include "drivers/readings.hpp"
#include "drivers/units.hpp"
#include "gateway/registry/device_registry.hpp"

namespace communegw {
namespace {

constexpr std::array<std::string_view, 6> default_topics{
    "+/sensor/+/state", "+/binary_sensor/+/state", "+/switch/+/state", "+/light/+/state", "+/status",
    "homeassistant/#"};

constexpr std::array options{
    driver_option{"sensors", driver_option_kind::text_list, "[]",
                  "Sensors by ESPHome object id, as \"<object_id> = <metric> [<unit>]\", e.g. \"soil_probe = "
                  "soil_moisture %\". The unit is what the node publishes; it is converted to the metric's unit. "
                  "It is used for nodes that send no Home Assistant discovery message: a node's own discovery "
                  "unit wins. "
                  "binary_sensor and switch ids may map to lamp_on or switch_on (no unit).",
                  {}, &check_esphome_sensor_mapping},
    driver_option{"discovery_prefix", driver_option_kind::text, "\"homeassistant\"",
                  "Topic prefix of Home Assistant discovery messages (ESPHome's mqtt.discovery_prefix).", {},
                  &check_esphome_discovery_prefix},
    driver_option{"device_kind", driver_option_kind::choice, "\"environment\"",
                  "Device kind recorded for every ESPHome node. With streetlight, switch states are stored as "
                  "lamp_on instead of switch_on.",
                  device_kind_choices},
};

// ---- topic ----------------------------------------------------------------

enum class component { sensor, binary_sensor, switch_output, light };

enum class esphome_message { state, status, discovery, ignored };

struct esphome_topic {
  esphome_message type = esphome_message::ignored;
  std::string_view prefix;  // the node
  component kind = component::sensor;
  std::string_view object_id;
};

// ---- payload --------------------------------------------------------------

// Home Assistant device classes with a canonical metric.
struct device_class_metric {
  std::string_view device_class;
  std::string_view metric;
};
constexpr std::array device_class_metrics{
    device_class_metric{"temperature", "temperature"},   device_class_metric{"humidity", "humidity"},
    device_class_metric{"pressure", "pressure"},         device_class_metric{"atmospheric_pressure", "pressure"},
    device_class_metric{"pm25", "pm2_5"},                device_class_metric{"pm10", "pm10"},
    device_class_metric{"pm1", "pm1"},                   device_class_metric{"carbon_dioxide", "co2"},
    device_class_metric{"volatile_organic_compounds_parts", "voc"},
    device_class_metric{"illuminance", "illuminance"},   device_class_metric{"moisture", "soil_moisture"},
    device_class_metric{"battery", "battery_soc"},       device_class_metric{"voltage", "voltage"},
    device_class_metric{"current", "current"},           device_class_metric{"power", "power"},
    device_class_metric{"energy", "energy"},             device_class_metric{"signal_strength", "rssi"},
    device_class_metric{"precipitation", "rainfall"},
    device_class_metric{"apparent_power", "apparent_power"}, device_class_metric{"reactive_power", "reactive_power"},
    device_class_metric{"power_factor", "power_factor"},
};

struct sensor_mapping {
  const metric_info* metric = nullptr;
  std::string unit;  // empty: take it from discovery
};

struct discovered_entity {
  std::string unit;
  std::string device_class;
};

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\r' || text.front() == '\n')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' || text.back() == '\n')) text.remove_suffix(1);
  return text;
}

// "<object_id> = <metric> [<unit>]" -> parts, or an error message.
struct parsed_mapping {
  std::string_view object_id, metric, unit;
};
std::variant<parsed_mapping, std::string> parse_mapping(std::string_view item) {
  const auto equals = item.find('=');
  if (equals == std::string_view::npos) return fmt::format("\"{}\" must be \"<object_id> = <metric> [<unit>]\"", item);
  parsed_mapping parts;
  parts.object_id = trim(item.substr(0, equals));
  auto rest = trim(item.substr(equals + 1));
  const auto space = rest.find(' ');
  parts.metric = rest.substr(0, space);
  parts.unit = space == std::string_view::npos ? std::string_view{} : trim(rest.substr(space + 1));
  if (parts.object_id.empty() || parts.metric.empty()) {
    return fmt::format("\"{}\" must be \"<object_id> = <metric> [<unit>]\"", item);
  }
  for (const char c : parts.object_id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
      return fmt::format("\"{}\": object id \"{}\" may hold only a-z, 0-9, '_' and '-'", item, parts.object_id);
    }
  }
  const auto* metric = find_metric(parts.metric);
  if (!metric) return fmt::format("\"{}\": unknown metric \"{}\" (see docs/metrics.md)", item, parts.metric);
  if (!parts.unit.empty() && (metric->unit == "bool" || !to_canonical_unit(*metric, parts.unit, 0.0))) {
    return fmt::format("\"{}\": unit \"{}\" cannot be converted to {}", item, parts.unit, metric->unit);
  }
  return parts;
}

class esphome_driver final : public driver {
 public:
  explicit esphome_driver(const driver_settings& settings);
  decode_result decode(std::string_view topic, std::string_view payload) override;
  void release_memory() override { json_field::release(parser_, buffer_); }

 private:
  esphome_topic parse_topic(std::string_view topic) const;
  decode_result decode_discovery(std::string_view payload);
  void decode_sensor(decoded_message& out, std::string_view topic, std::string_view object_id, std::string_view payload);
  void decode_on_off(decoded_message& out, const esphome_topic& where, std::string_view payload);
  decode_result decode_light(decoded_message out, std::string_view payload);

  std::unordered_map<std::string, sensor_mapping> mappings_;  // by object id
  std::string discovery_prefix_ = "homeassistant";
  device_kind kind_ = device_kind::environment;
  const device_registry* registry_ = nullptr;  // units the installer registered; may be null
  // From discovery messages, by state topic. Bounded: a flood of invented
  // configs cannot grow it forever.
  std::unordered_map<std::string, discovered_entity> discovered_;
  static constexpr std::size_t max_discovered = 10'000;
  simdjson::ondemand::parser parser_;
  json_field::padded_buffer buffer_;
};

esphome_driver::esphome_driver(const driver_settings& settings) : registry_(settings.registry) {
  if (const auto it = settings.lists.find("sensors"); it != settings.lists.end()) {
    for (const auto& item : it->second) {
      // Validated at start-up (check_esphome_sensor_mapping): parses.
      const auto parsed = parse_mapping(item);
      if (const auto* parts = std::get_if<parsed_mapping>(&parsed)) {
        mappings_[std::string(parts->object_id)] = {find_metric(parts->metric), std::string(parts->unit)};
      }
    }
  }
  if (const auto it = settings.texts.find("discovery_prefix"); it != settings.texts.end() && !it->second.empty()) {
    discovery_prefix_ = it->second;
  }
  if (const auto it = settings.texts.find("device_kind"); it != settings.texts.end() && it->second == "streetlight") {
    kind_ = device_kind::streetlight;
  }
}

esphome_topic esphome_driver::parse_topic(std::string_view topic) const {
  esphome_topic parsed;
  if (topic.size() > discovery_prefix_.size() + 1 && topic.substr(0, discovery_prefix_.size()) == discovery_prefix_ &&
      topic[discovery_prefix_.size()] == '/') {
    constexpr std::string_view config_suffix = "/config";
    if (topic.size() > config_suffix.size() && topic.substr(topic.size() - config_suffix.size()) == config_suffix) {
      parsed.type = esphome_message::discovery;
    }
    return parsed;  // other discovery-prefix topics (HA status, device triggers) are ignored
  }
  constexpr std::string_view status_suffix = "/status";
  if (topic.size() > status_suffix.size() && topic.substr(topic.size() - status_suffix.size()) == status_suffix) {
    parsed.type = esphome_message::status;
    parsed.prefix = topic.substr(0, topic.size() - status_suffix.size());
    return parsed;
  }
  // <prefix>/<component>/<object_id>/state, the prefix possibly with '/' in it.
  constexpr std::string_view state_suffix = "/state";
  if (topic.size() <= state_suffix.size() || topic.substr(topic.size() - state_suffix.size()) != state_suffix) return parsed;
  const auto body = topic.substr(0, topic.size() - state_suffix.size());
  const auto object_slash = body.rfind('/');
  if (object_slash == std::string_view::npos) return parsed;
  const auto component_slash = body.rfind('/', object_slash == 0 ? 0 : object_slash - 1);
  if (component_slash == std::string_view::npos || component_slash == object_slash) return parsed;
  const auto component_name = body.substr(component_slash + 1, object_slash - component_slash - 1);
  if (component_name == "sensor") parsed.kind = component::sensor;
  else if (component_name == "binary_sensor") parsed.kind = component::binary_sensor;
  else if (component_name == "switch") parsed.kind = component::switch_output;
  else if (component_name == "light") parsed.kind = component::light;
  else return parsed;  // text_sensor, fan, cover, number …: nothing canonical
  parsed.type = esphome_message::state;
  parsed.prefix = body.substr(0, component_slash);
  parsed.object_id = body.substr(object_slash + 1);
  return parsed;
}

decode_result esphome_driver::decode(std::string_view topic, std::string_view payload) {
  const auto where = parse_topic(topic);
  if (where.type == esphome_message::ignored) return ignored_message(ignore_reason::ignored_topic);
  if (where.type == esphome_message::discovery) return decode_discovery(payload);

  decoded_message out;
  const auto id = normalise_device_id("esphome/", where.prefix);
  if (!id) return rejection{reject_reason::unknown_topic, "node prefix is empty, not UTF-8 or holds control characters"};
  out.device_id = *id;
  out.kind = kind_;
  if (!simdjson::validate_utf8(payload.data(), payload.size())) {
    return rejection{reject_reason::binary_payload, "payload is not UTF-8 text"};
  }
  if (where.type == esphome_message::status) {
    const auto state = parse_availability_word(payload);
    if (!state) return rejection{reject_reason::unknown_value, fmt::format("status must be online or offline, not \"{}\"", payload.substr(0, 32))};
    out.reported_availability = state;
    return out;
  }
  switch (where.kind) {
    case component::sensor: decode_sensor(out, topic, where.object_id, payload); break;
    case component::binary_sensor:
    case component::switch_output: decode_on_off(out, where, payload); break;
    case component::light: return decode_light(std::move(out), payload);
  }
  return out;
}

decode_result esphome_driver::decode_discovery(std::string_view payload) {
  if (payload.empty()) return ignored_message(ignore_reason::driver_state);  // an entity removed: its old unit is harmless
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (auto error = json_field::open_object(parser_, buffer_, payload, doc, object)) return std::move(*error);
  std::string base, state_topic;
  discovered_entity entity;
  for (auto field : object) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (field.unescaped_key().get(key) || field.value().get(value)) return rejection{reject_reason::malformed_json, "bad discovery member"};
    // ESPHome abbreviates keys (USE_MQTT_ABBREVIATIONS); other publishers do not.
    std::string* target = key == "~"                                                 ? &base
                          : key == "stat_t" || key == "state_topic"                  ? &state_topic
                          : key == "unit_of_meas" || key == "unit_of_measurement"    ? &entity.unit
                          : key == "dev_cla" || key == "device_class"                ? &entity.device_class
                                                                                     : nullptr;
    if (!target) continue;
    const auto text = json_field::read_text(value);
    if (!text || text->size() > 256) return rejection{reject_reason::wrong_type, fmt::format("discovery \"{}\" must be a short string", key)};
    *target = *text;
  }
  if (auto error = json_field::check_nothing_follows(doc)) return std::move(*error);
  // "~" stands for the base topic at either end of a topic value.
  if (!base.empty() && !state_topic.empty()) {
    if (state_topic.front() == '~') state_topic = base + state_topic.substr(1);
    else if (state_topic.back() == '~') state_topic = state_topic.substr(0, state_topic.size() - 1) + base;
  }
  if (state_topic.empty()) return ignored_message(ignore_reason::driver_state);  // buttons, device triggers: nothing to read
  if (discovered_.size() < max_discovered || discovered_.count(state_topic)) discovered_[state_topic] = std::move(entity);
  return ignored_message(ignore_reason::driver_state);
}

void esphome_driver::decode_sensor(decoded_message& out, std::string_view topic, std::string_view object_id,
                                   std::string_view payload) {
  const auto mapping = mappings_.find(std::string(object_id));
  const auto discovered = discovered_.find(std::string(topic));
  const metric_info* metric = mapping != mappings_.end() ? mapping->second.metric : nullptr;
  if (!metric && discovered != discovered_.end()) {
    for (const auto& candidate : device_class_metrics) {
      if (candidate.device_class == discovered->second.device_class) metric = find_metric(candidate.metric);
    }
  }
  if (!metric) metric = find_metric(object_id);  // an object id named like a canonical metric
  if (!metric || metric->unit == "bool") {  // a sensor the commune does not track (wifi_signal_percent, …)
    out.ignored = ignore_reason::unmapped_object;
    return;
  }

  const auto text = trim(payload);
  // ESPHome publishes "nan" while a sensor has no valid value (a failed read,
  // a filter still filling); "None"/"unknown" come from other publishers. The
  // value is unknown, never 0, and counted (no_value): a sensor that stays
  // "nan" has failed.
  const auto number = json_field::parse_number_text(text);
  if (!number) {
    if (json_field::means_unknown(text)) {
      if (!text.empty()) reject_field(out, reject_reason::no_value, fmt::format("\"{}\": the device says it has no value", object_id));
      return;
    }
    reject_field(out, reject_reason::wrong_type, fmt::format("\"{}\" = \"{}\" is not a number", object_id, text.substr(0, 32)));
    return;
  }
  // The device's own discovery message says what it sends; the configured
  // unit is for nodes without discovery.
  std::string_view unit;
  if (discovered != discovered_.end() && !discovered->second.unit.empty()) unit = discovered->second.unit;
  else if (mapping != mappings_.end()) unit = mapping->second.unit;
  // What the installer registered for this device's sensor (docs/devices.md).
  if (unit.empty() && registry_) unit = registry_->unit_of(out.device_id, object_id).value_or(std::string_view{});
  if (unit.empty()) {
    reject_field(out, reject_reason::unknown_value,
                 fmt::format("\"{}\": unit unknown (no discovery message, no unit in driver.esphome.sensors)", object_id));
    return;
  }
  const auto converted = to_canonical_unit(*metric, unit, *number);
  if (!converted) {
    reject_field(out, reject_reason::unknown_value,
                 fmt::format("\"{}\": unit \"{}\" cannot be converted to {}", object_id, unit.substr(0, 16), metric->unit));
    return;
  }
  add_reading(out, *metric, *converted, object_id);
}

void esphome_driver::decode_on_off(decoded_message& out, const esphome_topic& where, std::string_view payload) {
  const metric_info* metric = nullptr;
  if (const auto mapping = mappings_.find(std::string(where.object_id)); mapping != mappings_.end()) metric = mapping->second.metric;
  if (!metric && where.kind == component::switch_output) metric = find_metric(kind_ == device_kind::streetlight ? "lamp_on" : "switch_on");
  if (!metric || metric->unit != "bool") {  // a binary sensor nobody mapped (door, motion…)
    out.ignored = ignore_reason::unmapped_object;
    return;
  }
  const auto text = trim(payload);
  if (const auto on = json_field::read_on_off_word(text)) add_reading(out, *metric, *on ? 1.0 : 0.0, where.object_id);
  else if (!text.empty() && json_field::means_unknown(text)) reject_field(out, reject_reason::no_value, fmt::format("\"{}\": the device says it has no value", where.object_id));
  else reject_field(out, reject_reason::unknown_value, fmt::format("\"{}\" = \"{}\" is not ON or OFF", where.object_id, text.substr(0, 32)));
}

decode_result esphome_driver::decode_light(decoded_message out, std::string_view payload) {
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (auto error = json_field::open_object(parser_, buffer_, payload, doc, object)) return std::move(*error);
  for (auto field : object) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (const auto error = field.unescaped_key().get(key)) return rejection{reject_reason::malformed_json, simdjson::error_message(error)};
    if (const auto error = field.value().get(value)) return rejection{reject_reason::malformed_json, simdjson::error_message(error)};
    if (key == "state") {
      const auto state = json_field::read_switch(value);
      json_field::count_no_value(state, out, "state");
      if (state.state == json_field::status::ok) add_reading(out, *find_metric("lamp_on"), state.value, "state");
      else if (state.state == json_field::status::wrong_type) reject_field(out, reject_reason::unknown_value, "\"state\" is not ON or OFF");
    } else if (key == "brightness") {
      // ESPHome's light JSON schema: brightness 0 … 255.
      const auto level = json_field::read_number(value);
      json_field::count_no_value(level, out, "brightness");
      if (level.state == json_field::status::wrong_type) {
        reject_field(out, reject_reason::wrong_type, "\"brightness\" is not a number");
      } else if (level.state == json_field::status::ok) {
        if (!(level.value >= 0 && level.value <= 255)) {
          reject_field(out, reject_reason::out_of_range, fmt::format("\"brightness\" = {} is outside 0 … 255", level.value));
        } else {
          add_reading(out, *find_metric("dim_level"), level.value / 255.0 * 100.0, "brightness");
        }
      }
    }
  }
  if (auto error = json_field::check_nothing_follows(doc)) return std::move(*error);
  return out;
}

// ---- factory ----------------------------------------------------------------

}  // namespace

std::string check_esphome_sensor_mapping(std::string_view item) {
  const auto parsed = parse_mapping(item);
  if (const auto* error = std::get_if<std::string>(&parsed)) return *error;
  return {};
}

std::string check_esphome_discovery_prefix(std::string_view prefix) {
  if (prefix.empty() || prefix.front() == '/' || prefix.back() == '/' || prefix.find_first_of("+#") != std::string_view::npos) {
    return fmt::format("\"{}\" must be a topic prefix: not empty, no '+' or '#', no leading or trailing '/'", prefix);
  }
  return {};
}

std::unique_ptr<driver> make_esphome_driver(const driver_settings& settings) {
  return std::make_unique<esphome_driver>(settings);
}

const driver_descriptor esphome_driver_descriptor{
    "esphome",
    "ESPHome nodes over MQTT: sensor, binary_sensor, switch and light states, status, Home Assistant discovery",
    default_topics,
    false,
    &make_esphome_driver,
    options,
};

}  // namespace communegw
