// Tasmota driver. Reads in the order every driver file uses:
// descriptor, topic parsing, payload decoding, factory.
#include "drivers/tasmota/tasmota_driver.hpp"

#include <array>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "drivers/availability_word.hpp"
#include "drivers/device_name.hpp"
#include "drivers/json_field.hpp"
#include "drivers/readings.hpp"
#include "drivers/units.hpp"
#include "gateway/model/timestamp.hpp"

namespace communegw {
namespace {

constexpr std::array<std::string_view, 1> default_topics{"tele/+/+"};

constexpr std::array options{
    driver_option{"full_topic", driver_option_kind::text, "\"%prefix%/%topic%/\"",
                  "The devices' FullTopic setting: levels separated by '/', with %prefix% and one of %topic%, "
                  "%hostname% or %id% as whole levels, other levels literal. Change driver.tasmota.topics to "
                  "match, e.g. \"%topic%/%prefix%/\" with topics = [\"+/tele/+\"].",
                  {}, &check_tasmota_full_topic},
    driver_option{"other_full_topics", driver_option_kind::text_list, "[]",
                  "More FullTopic patterns in use at once (a fleet flashed at different times), tried after "
                  "full_topic in this order; the first that fits a topic reads it. Add their filters to "
                  "driver.tasmota.topics, e.g. other_full_topics = [\"xa-01/%prefix%/%topic%/\"] with topics = "
                  "[\"tele/+/+\", \"xa-01/tele/+/+\"].",
                  {}, &check_tasmota_full_topic},
    driver_option{"device_kind", driver_option_kind::choice, "\"environment\"",
                  "Device kind recorded for every Tasmota device. With streetlight, relay state POWER/POWER1 is "
                  "stored as lamp_on instead of switch_on.",
                  device_kind_choices},
    driver_option{"time_offset", driver_option_kind::text, "\"\"",
                  "The UTC offset of the devices' local time, as set by their Timezone command, e.g. \"+07:00\". "
                  "Tasmota's Time carries no offset: with this set it becomes the readings' device time (a device "
                  "that has no NTP time yet reports 1970, which is then flagged, not trusted); empty: Time is not "
                  "used and the gateway's receive time stands for the reading.",
                  {}, &check_tasmota_time_offset},
};

// ---- topic ----------------------------------------------------------------

std::vector<std::string_view> split_levels(std::string_view text) {
  std::vector<std::string_view> levels;
  std::size_t start = 0;
  while (true) {
    const auto slash = text.find('/', start);
    levels.push_back(text.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return levels;
}

bool is_device_token(std::string_view level) { return level == "%topic%" || level == "%hostname%" || level == "%id%"; }

enum class tasmota_message { sensor, state, last_will, ignored };

struct tasmota_topic {
  tasmota_message type;
  std::string_view device;
};

// ---- payload --------------------------------------------------------------

// A key inside a sensor block ("BME280": {"Temperature": …}) with a fixed meaning.
enum class unit_source { fixed, temperature_unit, pressure_unit };
struct sensor_key {
  std::string_view key;
  std::string_view metric;
  unit_source source;
  std::string_view unit;  // for unit_source::fixed
};
constexpr std::array sensor_keys{
    sensor_key{"Temperature", "temperature", unit_source::temperature_unit, ""},
    sensor_key{"Humidity", "humidity", unit_source::fixed, "%"},
    sensor_key{"Pressure", "pressure", unit_source::pressure_unit, ""},
    sensor_key{"PM1", "pm1", unit_source::fixed, "µg/m³"},
    sensor_key{"PM2.5", "pm2_5", unit_source::fixed, "µg/m³"},
    sensor_key{"PM10", "pm10", unit_source::fixed, "µg/m³"},
    sensor_key{"CarbonDioxide", "co2", unit_source::fixed, "ppm"},
    sensor_key{"eCO2", "co2", unit_source::fixed, "ppm"},
    sensor_key{"TVOC", "voc", unit_source::fixed, "ppb"},
    sensor_key{"Illuminance", "illuminance", unit_source::fixed, "lx"},
    sensor_key{"Moisture", "soil_moisture", unit_source::fixed, "%"},
    sensor_key{"DewPoint", "dew_point", unit_source::temperature_unit, ""},
};
// The ENERGY block of power-monitoring plugs (HLW8012, BL0937, PZEM...).
constexpr std::array energy_keys{
    sensor_key{"Total", "energy", unit_source::fixed, "kWh"},
    sensor_key{"Power", "power", unit_source::fixed, "W"},
    sensor_key{"Voltage", "voltage", unit_source::fixed, "V"},
    sensor_key{"Current", "current", unit_source::fixed, "A"},
    sensor_key{"Today", "energy_today", unit_source::fixed, "kWh"},
    sensor_key{"Yesterday", "energy_yesterday", unit_source::fixed, "kWh"},
    sensor_key{"ApparentPower", "apparent_power", unit_source::fixed, "VA"},
    sensor_key{"ReactivePower", "reactive_power", unit_source::fixed, "VAr"},
    sensor_key{"Factor", "power_factor", unit_source::fixed, "ratio"},
};

// Which sensor gave each metric so far in this message.
struct metric_origin {
  const metric_info* metric;
  std::string_view sensor;
};

class tasmota_driver final : public driver {
 public:
  explicit tasmota_driver(const driver_settings& settings);
  decode_result decode(std::string_view topic, std::string_view payload) override;
  void release_memory() override { json_field::release(parser_, buffer_); }

 private:
  std::variant<tasmota_topic, rejection> parse_topic(std::string_view topic) const;
  decode_result decode_sensor(decoded_message out, std::string_view payload);
  decode_result decode_state(decoded_message out, std::string_view payload);
  void decode_sensor_block(decoded_message& out, std::string_view sensor, simdjson::ondemand::object block,
                           std::string_view temperature_unit, std::string_view pressure_unit,
                           std::vector<metric_origin>& origins);
  const metric_info& on_off_metric() const { return *find_metric(kind_ == device_kind::streetlight ? "lamp_on" : "switch_on"); }

  // Tasmota's "Time" (local, no offset) as device time, when time_offset is set.
  void read_time(decoded_message& out, simdjson::ondemand::value value) const;

  // full_topic, then each of other_full_topics: the levels of each pattern.
  std::vector<std::vector<std::string>> full_topics_;
  device_kind kind_ = device_kind::environment;
  std::string time_offset_;  // "+07:00"; empty: Time is not used
  simdjson::ondemand::parser parser_;
  json_field::padded_buffer buffer_;
};

tasmota_driver::tasmota_driver(const driver_settings& settings) {
  std::vector<std::string_view> patterns{"%prefix%/%topic%/"};
  if (const auto it = settings.texts.find("full_topic"); it != settings.texts.end()) patterns.front() = it->second;
  if (const auto it = settings.lists.find("other_full_topics"); it != settings.lists.end()) {
    patterns.insert(patterns.end(), it->second.begin(), it->second.end());
  }
  for (auto full_topic : patterns) {
    while (!full_topic.empty() && full_topic.back() == '/') full_topic.remove_suffix(1);
    auto& levels = full_topics_.emplace_back();
    for (const auto level : split_levels(full_topic)) levels.emplace_back(level);
  }
  if (const auto it = settings.texts.find("device_kind"); it != settings.texts.end() && it->second == "streetlight") {
    kind_ = device_kind::streetlight;
  }
  if (const auto it = settings.texts.find("time_offset"); it != settings.texts.end()) time_offset_ = it->second;
}

void tasmota_driver::read_time(decoded_message& out, simdjson::ondemand::value value) const {
  if (time_offset_.empty()) return;
  const auto text = json_field::read_text(value);
  // "2026-11-23T18:05:00": the offset completes it to RFC 3339.
  const auto ms = text && text->size() == 19 ? parse_rfc3339_ms(std::string(*text) + time_offset_) : std::nullopt;
  if (!ms) {
    reject_field(out, reject_reason::bad_timestamp,
                 fmt::format("\"Time\" must be local time as YYYY-MM-DDTHH:MM:SS, not {}", text ? text->substr(0, 32) : "a non-string"));
    return;
  }
  out.device_time_ms = *ms;
}

std::variant<tasmota_topic, rejection> tasmota_driver::parse_topic(std::string_view topic) const {
  const auto levels = split_levels(topic);
  // The first FullTopic pattern that fits; if none does, why the first did not.
  std::optional<rejection> first_refusal;
  std::optional<tasmota_topic> parsed;
  for (const auto& pattern : full_topics_) {
    if (parsed) break;
    auto refuse = [&](std::string detail) {
      if (!first_refusal) first_refusal = rejection{reject_reason::unknown_topic, std::move(detail)};
    };
    if (levels.size() != pattern.size() + 1) {
      refuse("topic does not have the levels of driver.tasmota.full_topic plus one");
      continue;
    }
    tasmota_topic candidate{tasmota_message::ignored, {}};
    bool fits = true;
    for (std::size_t i = 0; i < pattern.size() && fits; ++i) {
      if (pattern[i] == "%prefix%") {
        // stat/ and cmnd/ carry command results and commands, not telemetry.
        if (levels[i] != "tele") {
          refuse("only the tele prefix carries telemetry");
          fits = false;
        }
      } else if (is_device_token(pattern[i])) {
        candidate.device = levels[i];
      } else if (levels[i] != pattern[i]) {
        refuse(fmt::format("level {} must be \"{}\" (driver.tasmota.full_topic)", i + 1, pattern[i]));
        fits = false;
      }
    }
    if (fits) parsed = candidate;
  }
  if (!parsed) return std::move(*first_refusal);
  const auto suffix = levels.back();
  parsed->type = suffix == "SENSOR"  ? tasmota_message::sensor
                : suffix == "STATE" ? tasmota_message::state
                : suffix == "LWT"   ? tasmota_message::last_will
                                    : tasmota_message::ignored;
  return *parsed;
}

decode_result tasmota_driver::decode(std::string_view topic, std::string_view payload) {
  auto parsed = parse_topic(topic);
  if (auto* error = std::get_if<rejection>(&parsed)) return std::move(*error);
  const auto& where = std::get<tasmota_topic>(parsed);
  if (where.type == tasmota_message::ignored) return ignored_message(ignore_reason::ignored_topic);

  decoded_message out;
  const auto id = normalise_device_id("tasmota/", where.device);
  if (!id) return rejection{reject_reason::unknown_topic, "device topic is empty, not UTF-8 or holds control characters"};
  out.device_id = *id;
  out.kind = kind_;
  switch (where.type) {
    case tasmota_message::last_will: {
      const auto state = parse_availability_word(payload);
      if (!state) {
        return rejection{reject_reason::unknown_value,
                         fmt::format("LWT must be Online or Offline, not \"{}\"", payload.substr(0, 32))};
      }
      out.reported_availability = state;
      return out;
    }
    case tasmota_message::sensor: return decode_sensor(std::move(out), payload);
    case tasmota_message::state: return decode_state(std::move(out), payload);
    case tasmota_message::ignored: break;
  }
  return ignored_message(ignore_reason::ignored_topic);
}

// "Time" is the device's local time without an offset, and reads 1970-01-01
// until NTP has synchronised. The zone is in the device's own settings, not in
// the payload: only with driver.tasmota.time_offset can it become an instant
// (read_time); otherwise the gateway's receive time stands for the reading.
decode_result tasmota_driver::decode_sensor(decoded_message out, std::string_view payload) {
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (auto error = json_field::open_object(parser_, buffer_, payload, doc, object)) return std::move(*error);

  // Units are announced next to the readings, usually after them: read them
  // first. Copied (short strings, no allocation): rewinding reuses the
  // parser's string buffer that unescaped strings point into.
  std::string temperature_unit = "C", pressure_unit = "hPa";
  for (auto field : object) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (const auto error = field.unescaped_key().get(key)) return rejection{reject_reason::malformed_json, simdjson::error_message(error)};
    if (const auto error = field.value().get(value)) return rejection{reject_reason::malformed_json, simdjson::error_message(error)};
    if (key == "Time") {
      read_time(out, value);
    } else if (key == "TempUnit" || key == "PressureUnit") {
      const auto text = json_field::read_text(value);
      if (!text) return rejection{reject_reason::wrong_type, fmt::format("\"{}\" must be a string", key)};
      (key == "TempUnit" ? temperature_unit : pressure_unit) = text->substr(0, 15);
    }
  }
  if (auto error = json_field::check_nothing_follows(doc)) return std::move(*error);
  doc.rewind();
  if (doc.get_object().get(object)) return rejection{reject_reason::malformed_json, "payload changed between passes"};

  std::vector<metric_origin> origins;
  for (auto field : object) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (field.unescaped_key().get(key) || field.value().get(value)) return rejection{reject_reason::malformed_json, "bad member"};
    simdjson::ondemand::object block;
    if (value.get_object().get(block) != simdjson::SUCCESS) continue;  // Time, units, scalars of other features
    if (key == "ESP32") continue;  // the chip's own temperature, not the air's
    decode_sensor_block(out, key, block, temperature_unit, pressure_unit, origins);
  }
  return out;
}

void tasmota_driver::decode_sensor_block(decoded_message& out, std::string_view sensor, simdjson::ondemand::object block,
                                         std::string_view temperature_unit, std::string_view pressure_unit,
                                         std::vector<metric_origin>& origins) {
  const bool is_energy = sensor == "ENERGY";
  // DS18B20, DS18S20, DS1822 …, numbered "DS18B20-2" when there are several.
  const bool is_ds18 = sensor.substr(0, 4) == "DS18";
  for (auto field : block) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (field.unescaped_key().get(key) || field.value().get(value)) {
      reject_field(out, reject_reason::malformed_json, fmt::format("\"{}\": bad member", sensor));
      return;
    }
    const sensor_key* mapping = nullptr;
    if (is_energy) {
      for (const auto& candidate : energy_keys) {
        if (candidate.key == key) mapping = &candidate;
      }
    } else {
      for (const auto& candidate : sensor_keys) {
        if (candidate.key == key) mapping = &candidate;
      }
    }
    if (!mapping) continue;  // SeaPressure, CF2.5, PB0.3, Id, A0 …: not canonical metrics
    const auto field_name = fmt::format("{}.{}", sensor, key);
    simdjson::ondemand::json_type type;
    if (value.type().get(type) == simdjson::SUCCESS && type == simdjson::ondemand::json_type::array) {
      reject_field(out, reject_reason::wrong_type, fmt::format("\"{}\": per-phase arrays are not supported", field_name));
      continue;
    }
    const auto number = json_field::read_number(value);
    if (number.state == json_field::status::unknown) {
      json_field::count_no_value(number, out, field_name);
      continue;
    }
    if (number.state == json_field::status::wrong_type) {
      reject_field(out, reject_reason::wrong_type, fmt::format("\"{}\" is not a number", field_name));
      continue;
    }
    const metric_info& metric = *find_metric(mapping->metric);
    const auto unit = mapping->source == unit_source::temperature_unit ? temperature_unit
                      : mapping->source == unit_source::pressure_unit  ? pressure_unit
                                                                       : mapping->unit;
    const auto converted = to_canonical_unit(metric, unit, number.value);
    if (!converted) {
      reject_field(out, reject_reason::unknown_value,
                   fmt::format("\"{}\": unit \"{}\" cannot be converted to {}", field_name, unit.substr(0, 16), metric.unit));
      continue;
    }
    if (is_ds18 && mapping->metric == "temperature" && (*converted == 85.0 || *converted == -127.0)) {
      // 85 °C is the DS18B20 power-on reset value (read before a conversion
      // finished); -127 °C is what the library returns for a lost sensor.
      reject_field(out, reject_reason::no_value,
                   fmt::format("\"{}\" = {} °C is the DS18x20 {} value, not a measurement", field_name, *converted,
                               *converted == 85.0 ? "power-on reset" : "sensor lost"));
      continue;
    }
    // A reading has no sensor name: with two sensors measuring one metric,
    // the first in the message is kept and the second said so.
    const metric_origin* earlier = nullptr;
    for (const auto& origin : origins) {
      if (origin.metric == &metric) earlier = &origin;
    }
    if (earlier) {
      reject_field(out, reject_reason::unknown_value,
                   fmt::format("\"{}\": {} already read from {} in this message; one sensor per metric is kept",
                               field_name, metric.name, earlier->sensor));
      continue;
    }
    const auto before = out.readings.size();
    add_reading(out, metric, *converted, field_name);
    if (out.readings.size() > before) origins.push_back({&metric, sensor});
  }
}

decode_result tasmota_driver::decode_state(decoded_message out, std::string_view payload) {
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (auto error = json_field::open_object(parser_, buffer_, payload, doc, object)) return std::move(*error);
  auto number_field = [&](std::string_view name, simdjson::ondemand::value value) -> std::optional<double> {
    const auto number = json_field::read_number(value);
    if (number.state == json_field::status::wrong_type) {
      reject_field(out, reject_reason::wrong_type, fmt::format("\"{}\" is not a number", name));
    }
    json_field::count_no_value(number, out, name);
    if (number.state != json_field::status::ok) return std::nullopt;
    return number.value;
  };
  bool relay_seen = false;
  for (auto field : object) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (const auto error = field.unescaped_key().get(key)) return rejection{reject_reason::malformed_json, simdjson::error_message(error)};
    if (const auto error = field.value().get(value)) return rejection{reject_reason::malformed_json, simdjson::error_message(error)};
    if (key == "Time") {
      read_time(out, value);
    } else if (key == "UptimeSec") {
      if (const auto seconds = number_field(key, value)) add_reading(out, *find_metric("uptime"), *seconds, key);
    } else if (key == "Heap") {
      // Tasmota reports free heap in kB.
      if (const auto kilobytes = number_field(key, value)) add_reading(out, *find_metric("free_heap"), *kilobytes * 1024.0, key);
    } else if (key == "Dimmer") {
      if (const auto level = number_field(key, value)) add_reading(out, *find_metric("dim_level"), *level, key);
    } else if ((key == "POWER" || key == "POWER1") && !relay_seen) {
      // POWER2 … POWER8 (multi-relay boards) have no place in a reading
      // without a channel, so only the first relay is recorded.
      relay_seen = true;
      const auto state = json_field::read_switch(value);
      json_field::count_no_value(state, out, key);
      if (state.state == json_field::status::ok) add_reading(out, on_off_metric(), state.value, key);
      else if (state.state == json_field::status::wrong_type) reject_field(out, reject_reason::unknown_value, fmt::format("\"{}\" is not ON or OFF", key));
    } else if (key == "Wifi") {
      simdjson::ondemand::object wifi;
      if (value.get_object().get(wifi)) {
        reject_field(out, reject_reason::wrong_type, "\"Wifi\" must be an object");
        continue;
      }
      for (auto item : wifi) {
        std::string_view wifi_key;
        simdjson::ondemand::value wifi_value;
        if (item.unescaped_key().get(wifi_key) || item.value().get(wifi_value)) {
          return rejection{reject_reason::malformed_json, "bad \"Wifi\" member"};
        }
        // RSSI is Tasmota's 0–100 % quality rating; Signal is the dBm value.
        if (wifi_key == "RSSI") {
          if (const auto quality = number_field("Wifi.RSSI", wifi_value)) add_reading(out, *find_metric("wifi_quality"), *quality, "Wifi.RSSI");
        } else if (wifi_key == "Signal") {
          if (const auto dbm = number_field("Wifi.Signal", wifi_value)) add_reading(out, *find_metric("rssi"), *dbm, "Wifi.Signal");
        }
      }
    }
  }
  if (auto error = json_field::check_nothing_follows(doc)) return std::move(*error);
  return out;
}

// ---- factory ----------------------------------------------------------------

}  // namespace

std::string check_tasmota_full_topic(std::string_view full_topic) {
  while (!full_topic.empty() && full_topic.back() == '/') full_topic.remove_suffix(1);
  int prefixes = 0, devices = 0;
  for (const auto level : split_levels(full_topic)) {
    if (level == "%prefix%") ++prefixes;
    else if (is_device_token(level)) ++devices;
    else if (level.empty() || level.find_first_of("+#%") != std::string_view::npos) {
      return fmt::format("\"{}\": level \"{}\" must be %prefix%, %topic%, %hostname%, %id% or a plain word", full_topic, level);
    }
  }
  if (prefixes != 1 || devices != 1) {
    return fmt::format("\"{}\" must hold %prefix% once and one of %topic%, %hostname%, %id% once", full_topic);
  }
  return {};
}

std::string check_tasmota_time_offset(std::string_view offset) {
  if (offset.empty()) return {};
  const auto digit = [&](std::size_t i) { return offset[i] >= '0' && offset[i] <= '9'; };
  const bool shape = offset.size() == 6 && (offset[0] == '+' || offset[0] == '-') && digit(1) && digit(2) && offset[3] == ':' &&
                     digit(4) && digit(5);
  if (!shape || (offset[1] - '0') * 10 + (offset[2] - '0') > 14 || offset[4] > '5') {
    return "must be empty or a UTC offset as +HH:MM or -HH:MM, e.g. \"+07:00\"";
  }
  return {};
}

std::unique_ptr<driver> make_tasmota_driver(const driver_settings& settings) {
  return std::make_unique<tasmota_driver>(settings);
}

const driver_descriptor tasmota_driver_descriptor{
    "tasmota",
    "Wi-Fi plugs, relays and sensor boards running Tasmota (tele/ SENSOR, STATE and LWT)",
    default_topics,
    false,
    &make_tasmota_driver,
    options,
};

}  // namespace communegw
