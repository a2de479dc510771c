// Zigbee2MQTT driver. Reads in the order every driver file uses:
// descriptor, topic parsing, payload decoding, factory.
#include "drivers/zigbee2mqtt/zigbee2mqtt_driver.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "drivers/availability_word.hpp"
#include "drivers/device_name.hpp"
#include "drivers/json_field.hpp"
#include "drivers/readings.hpp"
#include "drivers/topic_base.hpp"
#include "drivers/units.hpp"
#include "gateway/registry/device_registry.hpp"
#include "gateway/model/timestamp.hpp"

namespace communegw {
namespace {

constexpr std::array<std::string_view, 1> default_topics{"zigbee2mqtt/#"};

constexpr std::array options{
    driver_option{"device_kind", driver_option_kind::choice, "\"environment\"",
                  "Device kind recorded for every Zigbee device of this bridge. With streetlight, a device's "
                  "\"state\" ON/OFF is stored as lamp_on; otherwise only lights (per bridge/devices) use lamp_on "
                  "and plugs or relays use switch_on.",
                  device_kind_choices},
};

// ---- topic ----------------------------------------------------------------

enum class topic_type { device_state, device_availability, bridge_state, bridge_devices, bridge_info, ignored };

struct z2m_topic {
  topic_type type;
  std::string_view base;
  std::string_view friendly_name;  // empty for bridge topics
};

bool is_command(std::string_view rest) {
  // <name>/set, <name>/get, <name>/set/<attribute>, <name>/get/<attribute>
  auto ends_with = [&](std::string_view suffix) {
    return rest.size() > suffix.size() && rest.substr(rest.size() - suffix.size()) == suffix;
  };
  if (ends_with("/set") || ends_with("/get")) return true;
  const auto last_slash = rest.rfind('/');
  if (last_slash == std::string_view::npos) return false;
  const auto parent = rest.substr(0, last_slash);
  return parent.size() > 4 && (parent.substr(parent.size() - 4) == "/set" || parent.substr(parent.size() - 4) == "/get");
}

// ---- payload --------------------------------------------------------------

// What bridge/devices says about one numeric property of one device.
struct exposed_property {
  std::string unit;  // "" when the expose has no unit
  std::optional<double> min, max;  // value_min / value_max, in the device's unit
};

// What bridge/devices says about one device.
struct device_metadata {
  bool is_light = false;
  std::unordered_map<std::string, exposed_property> properties;
};

// A payload key with a fixed meaning. An empty default unit means the unit
// differs between devices and must come from bridge/devices.
struct mapped_key {
  std::string_view key;
  std::string_view metric;
  std::string_view default_unit;
};
constexpr std::array mapped_keys{
    mapped_key{"temperature", "temperature", "°C"}, mapped_key{"humidity", "humidity", "%"},
    mapped_key{"pressure", "pressure", "hPa"},      mapped_key{"pm25", "pm2_5", "µg/m³"},
    mapped_key{"pm10", "pm10", "µg/m³"},            mapped_key{"pm1", "pm1", "µg/m³"},
    mapped_key{"co2", "co2", "ppm"},                mapped_key{"voc", "voc", ""},
    mapped_key{"illuminance_lux", "illuminance", "lx"},
    mapped_key{"soil_moisture", "soil_moisture", "%"},
    mapped_key{"battery", "battery_soc", "%"},      mapped_key{"linkquality", "link_quality", "lqi"},
    mapped_key{"power", "power", "W"},              mapped_key{"energy", "energy", "kWh"},
    mapped_key{"power_apparent", "apparent_power", "VA"}, mapped_key{"power_reactive", "reactive_power", "VAr"},
    mapped_key{"power_factor", "power_factor", ""},
    mapped_key{"formaldehyd", "formaldehyde", "mg/m³"}, mapped_key{"soil_temperature", "soil_temperature", "°C"},
    mapped_key{"soil_conductivity", "soil_conductivity", "µS/cm"},
    mapped_key{"current", "current", "A"},
};

// A Zigbee2MQTT property of one endpoint of a multi-endpoint device:
// "<property>_<n>" or "<property>_l<n>" ("temperature_1", "humidity_l2"),
// when the property without it is one the driver reads.
struct endpoint_key {
  std::string_view metric_key;  // "temperature"
  std::string_view name;        // "1", "l2"
};
std::optional<endpoint_key> split_endpoint(std::string_view key) {
  const auto cut = key.rfind('_');
  if (cut == std::string_view::npos || cut == 0) return std::nullopt;
  const auto name = key.substr(cut + 1);
  auto digits = name.substr(!name.empty() && name.front() == 'l' ? 1 : 0);
  if (digits.empty() || digits.size() > 2 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  const auto metric_key = key.substr(0, cut);
  const bool read = metric_key == "voltage" ||
                    std::any_of(mapped_keys.begin(), mapped_keys.end(), [&](const mapped_key& m) { return m.key == metric_key; });
  if (!read) return std::nullopt;
  return endpoint_key{metric_key, name};
}

class zigbee2mqtt_driver final : public driver {
 public:
  explicit zigbee2mqtt_driver(const driver_settings& settings);
  decode_result decode(std::string_view topic, std::string_view payload) override;
  void release_memory() override { json_field::release(parser_, buffer_); }

 private:
  std::variant<z2m_topic, rejection> parse_topic(std::string_view topic) const;
  decode_result decode_availability(const z2m_topic& where, std::string_view payload, device_kind kind);
  decode_result decode_state(const z2m_topic& where, std::string_view payload);
  decode_result decode_bridge_devices(const z2m_topic& where, std::string_view payload);
  decode_result decode_bridge_info(const z2m_topic& where, std::string_view payload);
  // `key` as the device sent it; `metric_key` the same without an endpoint
  // suffix ("temperature" for "temperature_l2"); `device_id` the device the
  // registry knows (the base device, for an endpoint).
  void decode_key(decoded_message& out, const device_metadata* metadata, std::string_view key,
                  std::string_view metric_key, std::string_view device_id, simdjson::ondemand::value value);
  void add_converted(decoded_message& out, std::string_view metric_name, std::string_view unit, double value,
                     std::string_view key);
  static std::optional<rejection> read_exposes(simdjson::ondemand::array exposes, device_metadata& metadata, int depth);

  std::vector<std::string> bases_;  // longest first
  device_kind kind_;
  const device_registry* registry_;  // units the installer registered; may be null
  simdjson::ondemand::parser parser_;
  json_field::padded_buffer buffer_;
  // From bridge/devices, by device id; replaced whole by each new list.
  std::unordered_map<std::string, device_metadata> metadata_;
  // Major version from bridge/info, per base topic; 0 = not seen yet.
  std::unordered_map<std::string, int> bridge_major_version_;
  static constexpr std::size_t max_devices = 10'000;
  static constexpr std::size_t max_properties_per_device = 256;
  static constexpr std::size_t max_endpoints = 16;
};

zigbee2mqtt_driver::zigbee2mqtt_driver(const driver_settings& settings)
    : bases_(bases_from_filters(settings.topics.empty() ? std::vector<std::string>{"zigbee2mqtt/#"} : settings.topics)),
      kind_(device_kind::environment),
      registry_(settings.registry) {
  if (const auto it = settings.texts.find("device_kind"); it != settings.texts.end() && it->second == "streetlight") {
    kind_ = device_kind::streetlight;
  }
}

std::variant<z2m_topic, rejection> zigbee2mqtt_driver::parse_topic(std::string_view topic) const {
  if (const auto under = split_base(bases_, topic)) {
    const auto rest = under->rest;
    const auto base_view = under->base;
    if (rest.substr(0, 7) == "bridge/" || rest == "bridge") {
      const auto what = rest.size() > 7 ? rest.substr(7) : std::string_view{};
      const auto type = what == "state"     ? topic_type::bridge_state
                        : what == "devices" ? topic_type::bridge_devices
                        : what == "info"    ? topic_type::bridge_info
                                            : topic_type::ignored;  // logging, events, request/response
      return z2m_topic{type, base_view, {}};
    }
    if (is_command(rest)) return z2m_topic{topic_type::ignored, base_view, {}};
    constexpr std::string_view availability_suffix = "/availability";
    if (rest.size() > availability_suffix.size() &&
        rest.substr(rest.size() - availability_suffix.size()) == availability_suffix) {
      return z2m_topic{topic_type::device_availability, base_view,
                       rest.substr(0, rest.size() - availability_suffix.size())};
    }
    return z2m_topic{topic_type::device_state, base_view, rest};
  }
  return rejection{reject_reason::unknown_topic, "topic is not under a configured Zigbee2MQTT base topic"};
}

decode_result zigbee2mqtt_driver::decode(std::string_view topic, std::string_view payload) {
  auto parsed = parse_topic(topic);
  if (auto* error = std::get_if<rejection>(&parsed)) return std::move(*error);
  const auto& where = std::get<z2m_topic>(parsed);
  switch (where.type) {
    case topic_type::device_state: return decode_state(where, payload);
    case topic_type::device_availability: return decode_availability(where, payload, kind_);
    case topic_type::bridge_state: return decode_availability(where, payload, device_kind::gateway);
    case topic_type::bridge_devices: return decode_bridge_devices(where, payload);
    case topic_type::bridge_info: return decode_bridge_info(where, payload);
    case topic_type::ignored: break;
  }
  return ignored_message(ignore_reason::ignored_topic);  // nothing to store, nothing wrong
}

std::optional<std::string> device_id_of(const z2m_topic& where, std::string_view friendly_name) {
  return normalise_device_id(std::string(where.base) + "/", friendly_name);
}

decode_result zigbee2mqtt_driver::decode_availability(const z2m_topic& where, std::string_view payload,
                                                      device_kind kind) {
  decoded_message out;
  const auto id = device_id_of(where, where.friendly_name.empty() ? std::string_view("bridge") : where.friendly_name);
  if (!id) return rejection{reject_reason::unknown_topic, "friendly name is empty, not UTF-8 or holds control characters"};
  out.device_id = *id;
  out.kind = kind;
  // 1.x legacy: the bare word; 2.x (and 1.x with legacy_availability_payload: false): {"state":"online"}.
  if (const auto word = parse_availability_word(payload)) {
    out.reported_availability = *word;
    return out;
  }
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (auto error = json_field::open_object(parser_, buffer_, payload, doc, object)) {
    if (error->reason == reject_reason::malformed_json) {
      return rejection{reject_reason::unknown_value, "availability must be online, offline or {\"state\":\"online\"|\"offline\"}"};
    }
    return std::move(*error);
  }
  std::optional<availability> state;
  for (auto field : object) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (field.unescaped_key().get(key) || field.value().get(value)) {
      return rejection{reject_reason::malformed_json, "bad availability object"};
    }
    if (key != "state") continue;
    const auto text = json_field::read_text(value);
    if (!text) return rejection{reject_reason::wrong_type, "availability \"state\" must be a string"};
    state = parse_availability_word(*text);
    if (!state) return rejection{reject_reason::unknown_value, fmt::format("availability \"state\" = \"{}\" is not online/offline", text->substr(0, 32))};
  }
  if (auto error = json_field::check_nothing_follows(doc)) return std::move(*error);
  if (!state) return rejection{reject_reason::missing_field, "availability object without \"state\""};
  out.reported_availability = state;
  return out;
}

decode_result zigbee2mqtt_driver::decode_state(const z2m_topic& where, std::string_view payload) {
  decoded_message out;
  const auto id = device_id_of(where, where.friendly_name);
  if (!id) return rejection{reject_reason::unknown_topic, "friendly name is empty, not UTF-8 or holds control characters"};
  out.device_id = *id;
  out.kind = kind_;
  const auto found = metadata_.find(out.device_id);
  const device_metadata* metadata = found == metadata_.end() ? nullptr : &found->second;

  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (auto error = json_field::open_object(parser_, buffer_, payload, doc, object)) return std::move(*error);

  // Decided after the whole object: which one wins depends on keys seen later.
  std::optional<double> illuminance_raw_or_lux, illuminance_lux;
  std::optional<double> switch_state;
  bool has_brightness = false;
  for (auto field : object) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (const auto error = field.unescaped_key().get(key)) return rejection{reject_reason::malformed_json, simdjson::error_message(error)};
    if (const auto error = field.value().get(value)) return rejection{reject_reason::malformed_json, simdjson::error_message(error)};

    if (key == "last_seen") {
      // advanced.last_seen: ISO_8601 ("…Z"), ISO_8601_local ("…+07:00") or epoch (ms).
      simdjson::ondemand::json_type type;
      std::optional<std::int64_t> when;
      if (value.type().get(type) == simdjson::SUCCESS) {
        if (type == simdjson::ondemand::json_type::string) {
          if (const auto text = json_field::read_text(value)) when = parse_rfc3339_ms(*text);
        } else if (type == simdjson::ondemand::json_type::number) {
          double ms = 0;
          if (value.get_double().get(ms) == simdjson::SUCCESS && ms >= 0 && ms < 1e14) when = static_cast<std::int64_t>(ms);
        } else if (type == simdjson::ondemand::json_type::null) {
          continue;
        }
      }
      if (!when) reject_field(out, reject_reason::bad_timestamp, "\"last_seen\" must be ISO 8601 with an offset or epoch milliseconds");
      out.device_time_ms = when;
      continue;
    }
    if (key == "state") {
      const auto number = json_field::read_switch(value);
      json_field::count_no_value(number, out, key);
      if (number.state == json_field::status::ok) switch_state = number.value;
      else if (number.state == json_field::status::wrong_type) reject_field(out, reject_reason::unknown_value, "\"state\" is not ON or OFF");
      continue;
    }
    if (key == "illuminance" || key == "illuminance_lux") {
      const auto number = json_field::read_number(value);
      json_field::count_no_value(number, out, key);
      if (number.state == json_field::status::wrong_type) {
        reject_field(out, reject_reason::wrong_type, fmt::format("\"{}\" is not a number", key));
      } else if (number.state == json_field::status::ok) {
        (key == "illuminance" ? illuminance_raw_or_lux : illuminance_lux) = number.value;
      }
      continue;
    }
    if (key == "brightness") has_brightness = true;
    if (const auto endpoint = split_endpoint(key)) {
      // A multi-endpoint device (temperature_1, humidity_l2): the reading
      // goes to the endpoint's own device, "<device>/<endpoint>".
      auto part = std::find_if(out.other_devices.begin(), out.other_devices.end(), [&](const decoded_message& other) {
        return std::string_view(other.device_id).substr(out.device_id.size() + 1) == endpoint->name;
      });
      if (part == out.other_devices.end()) {
        if (out.other_devices.size() >= max_endpoints) {
          reject_field(out, reject_reason::out_of_range, fmt::format("\"{}\": more than {} endpoints", key, max_endpoints));
          continue;
        }
        if (out.device_id.size() + 1 + endpoint->name.size() > max_device_id_bytes) {
          // Device ids are bounded (device_name.hpp): the endpoint's would not fit.
          reject_field(out, reject_reason::out_of_range,
                       fmt::format("\"{}\": the device id with its endpoint is over {} bytes", key, max_device_id_bytes));
          continue;
        }
        decoded_message fresh;
        fresh.device_id = fmt::format("{}/{}", out.device_id, endpoint->name);
        fresh.kind = kind_;
        part = out.other_devices.insert(out.other_devices.end(), std::move(fresh));
      }
      decode_key(*part, metadata, key, endpoint->metric_key, out.device_id, value);
      continue;
    }
    decode_key(out, metadata, key, key, out.device_id, value);
  }
  for (auto& part : out.other_devices) part.device_time_ms = out.device_time_ms;
  if (auto error = json_field::check_nothing_follows(doc)) return std::move(*error);

  if (switch_state) {
    const bool is_lamp = kind_ == device_kind::streetlight || has_brightness || (metadata && metadata->is_light);
    add_reading(out, *find_metric(is_lamp ? "lamp_on" : "switch_on"), *switch_state, "state");
  }
  if (illuminance_lux) {
    // 1.x sends both: illuminance_lux is lux, illuminance the raw ZCL value.
    add_reading(out, *find_metric("illuminance"), *illuminance_lux, "illuminance_lux");
  } else if (illuminance_raw_or_lux) {
    // 2.0 renamed illuminance_lux to illuminance (lux); in 1.x "illuminance"
    // is the raw ZCL MeasuredValue. The device's expose says which one this is,
    // else the bridge version does; with neither, say so.
    std::optional<bool> is_lux;
    if (metadata) {
      if (const auto exposed = metadata->properties.find("illuminance"); exposed != metadata->properties.end()) {
        is_lux = exposed->second.unit == "lx";
      }
    }
    if (!is_lux) {
      const auto version = bridge_major_version_.find(std::string(where.base));
      if (version != bridge_major_version_.end() && version->second >= 2) is_lux = true;
    }
    const auto raw = *illuminance_raw_or_lux;
    if (!is_lux) {
      reject_field(out, reject_reason::unknown_value,
                   "\"illuminance\": unit unknown (raw ZCL in Zigbee2MQTT 1.x, lux in 2.x) until bridge/devices or "
                   "bridge/info is received");
    } else if (*is_lux) {
      add_reading(out, *find_metric("illuminance"), raw, "illuminance");
    } else if (!(raw >= 0 && raw <= 0xFFFE)) {
      reject_field(out, reject_reason::out_of_range, fmt::format("\"illuminance\" = {} is not a ZCL MeasuredValue (0 … 65534)", raw));
    } else {
      add_reading(out, *find_metric("illuminance"), zcl_illuminance_to_lux(raw), "illuminance");
    }
  }
  return out;
}

void zigbee2mqtt_driver::add_converted(decoded_message& out, std::string_view metric_name, std::string_view unit,
                                       double value, std::string_view key) {
  const metric_info* metric = find_metric(metric_name);
  const auto converted = to_canonical_unit(*metric, unit, value);
  if (!converted) {
    reject_field(out, reject_reason::unknown_value,
                 fmt::format("\"{}\": unit \"{}\" cannot be converted to {}", key, unit.substr(0, 32), metric->unit));
    return;
  }
  add_reading(out, *metric, *converted, key);
}

void zigbee2mqtt_driver::decode_key(decoded_message& out, const device_metadata* metadata, std::string_view key,
                                    std::string_view metric_key, std::string_view device_id,
                                    simdjson::ondemand::value value) {
  const mapped_key* mapping = nullptr;
  for (const auto& candidate : mapped_keys) {
    if (candidate.key == metric_key) mapping = &candidate;
  }
  if (!mapping && metric_key != "voltage" && metric_key != "brightness") return;  // unknown keys are not errors

  const auto number = json_field::read_number(value);
  if (number.state == json_field::status::unknown) {  // null, "nan": unknown, never 0 ("nan" is counted)
    json_field::count_no_value(number, out, key);
    return;
  }
  if (number.state == json_field::status::wrong_type) {
    reject_field(out, reject_reason::wrong_type, fmt::format("\"{}\" is not a number", key));
    return;
  }
  std::optional<std::string_view> exposed_unit;
  if (metadata) {
    if (const auto exposed = metadata->properties.find(std::string(key)); exposed != metadata->properties.end()) {
      exposed_unit = exposed->second.unit;
      // The device's own declared range (e.g. a Tuya soil sensor's 0 … 100)
      // catches garbage the wide catalogue range lets through.
      const auto& min = exposed->second.min;
      const auto& max = exposed->second.max;
      if ((min && number.value < *min) || (max && number.value > *max)) {
        reject_field(out, reject_reason::out_of_range,
                     fmt::format("\"{}\" = {} is outside the device's declared range {} … {}", key, number.value,
                                 min ? fmt::format("{}", *min) : "", max ? fmt::format("{}", *max) : ""));
        return;
      }
    }
  }

  // The unit the installer registered for this field, for devices whose
  // bridge never announces it (docs/devices.md).
  const auto registered_unit = registry_ ? registry_->unit_of(device_id, key) : std::nullopt;
  if ((!exposed_unit || exposed_unit->empty()) && registered_unit) exposed_unit = registered_unit;

  if (metric_key == "brightness") {
    // Zigbee level 0 … 254 (254 = full), whatever the expose says.
    if (!(number.value >= 0 && number.value <= 254)) {
      reject_field(out, reject_reason::out_of_range, fmt::format("\"brightness\" = {} is outside 0 … 254", number.value));
      return;
    }
    add_reading(out, *find_metric("dim_level"), number.value / 254.0 * 100.0, key);
    return;
  }
  if (metric_key == "voltage") {
    // Battery devices report mV, mains plugs V: only the device's expose tells.
    if (!exposed_unit || exposed_unit->empty()) {
      reject_field(out, reject_reason::unknown_value,
                   "\"voltage\": unit unknown (mV on battery devices, V on mains devices) until bridge/devices "
                   "describes this device");
      return;
    }
    add_converted(out, *exposed_unit == "mV" ? "battery_voltage" : "voltage", *exposed_unit, number.value, key);
    return;
  }
  std::string_view unit = mapping->default_unit;
  if (exposed_unit && !exposed_unit->empty()) unit = *exposed_unit;
  if (unit.empty()) {
    reject_field(out, reject_reason::unknown_value,
                 fmt::format("\"{}\": unit unknown until bridge/devices describes this device", key));
    return;
  }
  add_converted(out, mapping->metric, unit, number.value, key);
}

// Walks one exposes array (and nested "features") collecting numeric units and
// whether the device is a light. Depth-limited: the input is untrusted.
std::optional<rejection> zigbee2mqtt_driver::read_exposes(simdjson::ondemand::array exposes, device_metadata& metadata,
                                                          int depth) {
  if (depth > 4) return rejection{reject_reason::out_of_range, "bridge/devices: exposes nested deeper than 4 levels"};
  for (auto item : exposes) {
    simdjson::ondemand::object expose;
    if (item.get_object().get(expose)) continue;  // not an object: nothing to learn
    std::string_view type, property, unit;
    bool has_unit = false;
    std::optional<double> value_min, value_max;
    for (auto field : expose) {
      std::string_view key;
      simdjson::ondemand::value value;
      if (field.unescaped_key().get(key) || field.value().get(value)) {
        return rejection{reject_reason::malformed_json, "bridge/devices: bad expose"};
      }
      if (key == "type") {
        type = json_field::read_text(value).value_or("");
      } else if (key == "property") {
        property = json_field::read_text(value).value_or("");
      } else if (key == "unit") {
        const auto text = json_field::read_text(value);
        has_unit = text.has_value();
        unit = text.value_or("");
      } else if (key == "value_min" || key == "value_max") {
        const auto bound = json_field::read_number(value);
        if (bound.state == json_field::status::ok) (key == "value_min" ? value_min : value_max) = bound.value;
      } else if (key == "features") {
        simdjson::ondemand::array features;
        if (value.get_array().get(features) == simdjson::SUCCESS) {
          if (auto error = read_exposes(features, metadata, depth + 1)) return error;
        }
      }
    }
    if (type == "light") metadata.is_light = true;
    if (type == "numeric" && !property.empty() && property.size() <= 64 &&
        metadata.properties.size() < max_properties_per_device) {
      metadata.properties[std::string(property)] = {has_unit ? std::string(unit.substr(0, 16)) : std::string(), value_min, value_max};
    }
  }
  return std::nullopt;
}

decode_result zigbee2mqtt_driver::decode_bridge_devices(const z2m_topic& where, std::string_view payload) {
  simdjson::ondemand::document doc;
  simdjson::ondemand::array devices;
  if (auto error = json_field::open_array(parser_, buffer_, payload, "bridge/devices", doc, devices))
    return std::move(*error);
  // Built aside and swapped in only when the whole list read well.
  std::unordered_map<std::string, device_metadata> fresh;
  for (const auto& [id, metadata] : metadata_) {
    if (id.size() <= where.base.size() || id.compare(0, where.base.size(), where.base) != 0 || id[where.base.size()] != '/') {
      fresh.emplace(id, metadata);  // another bridge's devices stay
    }
  }
  for (auto item : devices) {
    simdjson::ondemand::object device;
    if (item.get_object().get(device)) return rejection{reject_reason::wrong_type, "bridge/devices: each entry must be an object"};
    std::string_view friendly_name;
    device_metadata metadata;
    for (auto field : device) {
      std::string_view key;
      simdjson::ondemand::value value;
      if (field.unescaped_key().get(key) || field.value().get(value)) {
        return rejection{reject_reason::malformed_json, "bridge/devices: bad device entry"};
      }
      if (key == "friendly_name") {
        friendly_name = json_field::read_text(value).value_or("");
      } else if (key == "definition") {
        simdjson::ondemand::object definition;
        if (value.get_object().get(definition)) continue;  // null for unsupported devices
        for (auto part : definition) {
          std::string_view part_key;
          simdjson::ondemand::value part_value;
          if (part.unescaped_key().get(part_key) || part.value().get(part_value)) {
            return rejection{reject_reason::malformed_json, "bridge/devices: bad definition"};
          }
          simdjson::ondemand::array exposes;
          if (part_key == "exposes" && part_value.get_array().get(exposes) == simdjson::SUCCESS) {
            if (auto error = read_exposes(exposes, metadata, 0)) return std::move(*error);
          }
        }
      }
    }
    const auto id = device_id_of(where, friendly_name);
    if (!id || fresh.size() >= max_devices) continue;
    fresh[*id] = std::move(metadata);
  }
  if (auto error = json_field::check_nothing_follows(doc)) return std::move(*error);
  metadata_ = std::move(fresh);
  return ignored_message(ignore_reason::driver_state);
}

decode_result zigbee2mqtt_driver::decode_bridge_info(const z2m_topic& where, std::string_view payload) {
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (auto error = json_field::open_object(parser_, buffer_, payload, doc, object)) return std::move(*error);
  int major = 0;
  for (auto field : object) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (field.unescaped_key().get(key) || field.value().get(value)) return rejection{reject_reason::malformed_json, "bad bridge/info"};
    if (key != "version") continue;
    const auto text = json_field::read_text(value);
    if (!text || text->empty() || text->front() < '0' || text->front() > '9') {
      return rejection{reject_reason::wrong_type, "bridge/info \"version\" must be a version string"};
    }
    for (const char c : *text) {
      if (c < '0' || c > '9' || major > 1000) break;
      major = major * 10 + (c - '0');
    }
  }
  if (auto error = json_field::check_nothing_follows(doc)) return std::move(*error);
  if (major > 0 && bridge_major_version_.size() < 64) bridge_major_version_[std::string(where.base)] = major;
  return ignored_message(ignore_reason::driver_state);
}

// ---- factory ----------------------------------------------------------------

}  // namespace

std::unique_ptr<driver> make_zigbee2mqtt_driver(const driver_settings& settings) {
  return std::make_unique<zigbee2mqtt_driver>(settings);
}

const driver_descriptor zigbee2mqtt_driver_descriptor{
    "zigbee2mqtt",
    "Zigbee sensors, plugs and lights behind Zigbee2MQTT 1.x/2.x; the base topic is the filter's literal part",
    default_topics,
    false,
    &make_zigbee2mqtt_driver,
    options,
};

}  // namespace communegw
