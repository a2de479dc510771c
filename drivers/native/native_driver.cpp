// Native commune format driver. Reads in the order every driver file uses:
// descriptor, topic parsing, payload decoding, factory.
#include "drivers/native/native_driver.hpp"

#include <algorithm>
#include <array>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "drivers/fault_tracker.hpp"
#include "drivers/json_field.hpp"
#include "gateway/model/json_text.hpp"

namespace communegw {
namespace {

constexpr std::array<std::string_view, 1> default_topics{"commune/+/+/+/+"};

// ---- topic ----------------------------------------------------------------

enum class message_type { status, telemetry, event };

struct native_topic {
  device_kind kind;
  message_type type;
  std::string_view device;
};

bool valid_device_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (const char c : id) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x21 || byte == 0x7f || c == '+' || c == '#') return false;
  }
  return true;
}

std::variant<native_topic, rejection> parse_topic(std::string_view topic) {
  std::array<std::string_view, 5> parts;
  std::size_t count = 0;
  std::size_t start = 0;
  while (count < parts.size()) {
    const auto slash = topic.find('/', start);
    parts[count++] = topic.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
    if (count == parts.size()) return rejection{reject_reason::unknown_topic, "topic has more than 5 levels"};
  }
  if (count != 5 || parts[0] != "commune") {
    return rejection{reject_reason::unknown_topic, "expected commune/<commune>/<class>/<device>/<type>"};
  }
  if (parts[1].empty()) return rejection{reject_reason::unknown_topic, "empty commune level"};
  if (!valid_device_id(parts[3])) {
    return rejection{reject_reason::unknown_topic, "device id must be 1-64 printable characters without spaces"};
  }
  native_topic parsed{device_kind::streetlight, message_type::status, parts[3]};
  if (parts[2] == "streetlight") parsed.kind = device_kind::streetlight;
  else if (parts[2] == "env") parsed.kind = device_kind::environment;
  else if (parts[2] == "camera") parsed.kind = device_kind::camera;
  else return rejection{reject_reason::unknown_topic, fmt::format("unknown device class \"{}\"", parts[2])};

  if (parts[4] == "event") parsed.type = message_type::event;
  else if (parts[4] == "status" && parsed.kind == device_kind::streetlight) parsed.type = message_type::status;
  else if (parts[4] == "telemetry" && parsed.kind == device_kind::environment) parsed.type = message_type::telemetry;
  else return rejection{reject_reason::unknown_topic, fmt::format("unknown message type \"{}\" for class \"{}\"", parts[4], parts[2])};
  return parsed;
}

// ---- payload --------------------------------------------------------------

struct event_name {
  std::string_view wire;  // as sent in "event"
  std::string_view kind;  // stored event kind
  severity level;         // unless the message says otherwise
  bool camera_only;
};
constexpr std::array event_names{
    event_name{"motion", "camera_motion", severity::info, true},
    event_name{"object", "camera_object", severity::info, true},
    event_name{"line_cross", "camera_line_cross", severity::info, true},
    event_name{"tamper", "tamper", severity::alarm, false},
    event_name{"door_open", "door_open", severity::warning, false},
    event_name{"door_closed", "door_closed", severity::info, false},
    event_name{"power_loss", "power_loss", severity::alarm, false},
    event_name{"power_restored", "power_restored", severity::info, false},
};

template <std::size_t n>
std::array<const metric_info*, n> metric_list(const std::string_view (&names)[n]) {
  std::array<const metric_info*, n> list{};
  for (std::size_t i = 0; i < n; ++i) list[i] = find_metric(names[i]);  // every name is in the catalogue (unit test)
  return list;
}

// The metrics each class may report, as catalogue entries: a message's keys
// are looked up once (find_metric) and then compared as pointers.
bool metric_allowed(device_kind kind, const metric_info* metric) {
  static const auto streetlight = metric_list({"lamp_on", "dim_level", "battery_voltage", "battery_soc", "pv_voltage",
                                               "pv_current", "pv_power", "load_power", "controller_temperature"});
  static const auto environment =
      metric_list({"pm2_5", "pm10", "temperature", "humidity", "noise_level", "rainfall", "water_level"});
  const auto contains = [&](const auto& list) { return std::find(list.begin(), list.end(), metric) != list.end(); };
  return kind == device_kind::streetlight ? contains(streetlight) : kind == device_kind::environment && contains(environment);
}

constexpr std::size_t max_readings_per_message = 9;  // a streetlight status with every metric

class native_driver final : public driver {
 public:
  decode_result decode(std::string_view topic, std::string_view payload) override;
  void release_memory() override { json_field::release(parser_, buffer_); }

 private:
  // Both decode into the message in place (decode returns one object, so the
  // compiler constructs it in the caller's: a decoded_message moved is ~150
  // instructions) and return the rejection, if any.
  std::optional<rejection> decode_into(std::string_view topic, std::string_view payload, decoded_message& out);
  std::optional<rejection> decode_object(const native_topic& where, simdjson::ondemand::object object,
                                         std::optional<std::vector<std::string>>& faults, decoded_message& out);
  void decode_metric(decoded_message& out, std::string_view key, simdjson::ondemand::value value);
  static std::optional<rejection> decode_faults(simdjson::ondemand::value value, std::vector<std::string>& codes);

  simdjson::ondemand::parser parser_;
  json_field::padded_buffer buffer_;
  // Reported faults become events on changes only (drivers/fault_tracker.hpp).
  fault_tracker faults_;
};

decode_result native_driver::decode(std::string_view topic, std::string_view payload) {
  decode_result result(std::in_place_type<decoded_message>);
  if (auto error = decode_into(topic, payload, std::get<decoded_message>(result))) result = std::move(*error);
  return result;
}

std::optional<rejection> native_driver::decode_into(std::string_view topic, std::string_view payload,
                                                    decoded_message& out) {
  auto parsed_topic = parse_topic(topic);
  if (auto* error = std::get_if<rejection>(&parsed_topic)) return std::move(*error);
  const auto& where = std::get<native_topic>(parsed_topic);

  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (auto error = json_field::open_object(parser_, buffer_, payload, doc, object)) return error;
  std::optional<std::vector<std::string>> faults;
  if (auto error = decode_object(where, object, faults, out)) return error;
  // On-Demand parses lazily: make sure nothing but whitespace follows the object.
  if (auto error = json_field::check_nothing_follows(doc)) return error;
  // Only an accepted message may change what the driver remembers.
  if (faults) faults_.report(out, "faults", std::move(*faults));
  return std::nullopt;
}

std::optional<rejection> native_driver::decode_object(const native_topic& where, simdjson::ondemand::object object,
                                                      std::optional<std::vector<std::string>>& faults,
                                                      decoded_message& out) {
  out.device_id = std::string(where.device);
  out.kind = where.kind;
  // One allocation for a whole status or telemetry message, not four as the vector grows.
  if (where.type != message_type::event) out.readings.reserve(max_readings_per_message);

  event ev;  // used by "event" messages
  std::string_view event_wire;
  std::string attributes;
  std::optional<std::int64_t> object_count;
  std::string_view object_class, zone, snapshot;
  bool severity_given = false;

  for (auto field : object) {
    // Inline rather than json_field::read_member: ~70 instructions less per member (callgrind).
    std::string_view key;
    if (const auto error = field.unescaped_key().get(key)) {
      return rejection{reject_reason::malformed_json, simdjson::error_message(error)};
    }
    simdjson::ondemand::value value;
    if (const auto error = field.value().get(value)) {
      return rejection{reject_reason::malformed_json, simdjson::error_message(error)};
    }
    if (key == "v") {
      const auto version = json_field::read_non_negative_integer(value);
      if (version != 1) return rejection{reject_reason::unknown_value, "format version \"v\" must be 1"};
    } else if (key == "seq") {
      out.sequence = json_field::read_non_negative_integer(value);
      if (!out.sequence) return rejection{reject_reason::wrong_type, "\"seq\" must be an integer 0 … 2^53"};
    } else if (key == "ts") {
      out.device_time_ms = json_field::read_timestamp_ms(value);
      if (!out.device_time_ms) {
        return rejection{reject_reason::bad_timestamp, "\"ts\" must be Unix seconds or RFC 3339 with an offset"};
      }
    } else if (where.type == message_type::event) {
      if (key == "event") {
        if (value.get_string().get(event_wire)) return rejection{reject_reason::wrong_type, "\"event\" must be a string"};
      } else if (key == "severity") {
        std::string_view text;
        if (value.get_string().get(text)) return rejection{reject_reason::wrong_type, "\"severity\" must be a string"};
        const auto level = parse_severity(text);
        if (!level) return rejection{reject_reason::unknown_value, "\"severity\" must be info, warning or alarm"};
        ev.level = *level;
        severity_given = true;
      } else if (key == "start" || key == "end") {
        const auto when = json_field::read_timestamp_ms(value);
        if (!when) return rejection{reject_reason::bad_timestamp, fmt::format("\"{}\" must be Unix seconds or RFC 3339", key)};
        (key == "start" ? ev.start_ms : ev.end_ms) = when;
      } else if (key == "zone" || key == "snapshot") {
        std::string_view text;
        if (value.get_string().get(text) || text.size() > 256) {
          return rejection{reject_reason::wrong_type, fmt::format("\"{}\" must be a string of at most 256 bytes", key)};
        }
        (key == "zone" ? zone : snapshot) = text;
      } else if (key == "object") {
        simdjson::ondemand::object detected;
        if (value.get_object().get(detected)) return rejection{reject_reason::wrong_type, "\"object\" must be an object"};
        for (auto item : detected) {
          std::string_view item_key;
          simdjson::ondemand::value item_value;
          if (item.unescaped_key().get(item_key) || item.value().get(item_value)) {
            return rejection{reject_reason::malformed_json, "bad \"object\" member"};
          }
          if (item_key == "class") {
            if (item_value.get_string().get(object_class) || object_class.size() > 64) {
              return rejection{reject_reason::wrong_type, "\"object.class\" must be a short string"};
            }
          } else if (item_key == "count") {
            object_count = json_field::read_non_negative_integer(item_value);
            if (!object_count || *object_count > 10000) {
              return rejection{reject_reason::out_of_range, "\"object.count\" must be an integer 0 … 10000"};
            }
          }
        }
      }
      // Other keys are ignored: the format may grow without breaking old gateways.
    } else if (key == "faults" && where.kind == device_kind::streetlight) {
      faults.emplace();
      if (auto error = decode_faults(value, *faults)) return std::move(*error);
    } else {
      decode_metric(out, key, value);
    }
  }

  if (where.type == message_type::event) {
    if (event_wire.empty()) return rejection{reject_reason::missing_field, "event message without \"event\""};
    const event_name* name = nullptr;
    for (const auto& candidate : event_names) {
      if (candidate.wire == event_wire) name = &candidate;
    }
    if (!name || (name->camera_only && where.kind != device_kind::camera)) {
      return rejection{reject_reason::unknown_value, fmt::format("unknown event \"{}\" for this device class", event_wire)};
    }
    ev.kind = std::string(name->kind);
    if (!severity_given) ev.level = name->level;
    attributes.assign(1, '{');  // not = "{": GCC 12 -O3 reports a false -Wrestrict
    auto add = [&](std::string_view attr_key) {
      if (attributes.size() > 1) attributes += ',';
      append_json_string(attributes, attr_key);
      attributes += ':';
    };
    if (!zone.empty()) add("zone"), append_json_string(attributes, zone);
    if (!object_class.empty()) add("object_class"), append_json_string(attributes, object_class);
    if (object_count) add("object_count"), attributes += std::to_string(*object_count);
    if (!snapshot.empty()) add("snapshot"), append_json_string(attributes, snapshot);
    attributes += '}';
    ev.attributes_json = std::move(attributes);
    out.events.push_back(std::move(ev));
  }
  // "ts" may follow "faults" or "start" in the object: fill in event times last.
  for (auto& each : out.events) {
    if (!each.start_ms) each.start_ms = out.device_time_ms;
  }
  return std::nullopt;
}

void native_driver::decode_metric(decoded_message& out, std::string_view key, simdjson::ondemand::value value) {
  const metric_info* metric = find_metric(key);
  if (!metric || !metric_allowed(out.kind, metric)) return;  // unknown keys are ignored (forward compatibility)
  const auto number = metric->unit == "bool" ? json_field::read_switch(value) : json_field::read_number(value);
  switch (number.state) {
    case json_field::status::unknown:  // absent/null/"nan": unknown, never 0 ("nan" is counted)
      json_field::count_no_value(number, out, key);
      return;
    case json_field::status::wrong_type:
      out.field_rejections.push_back({reject_reason::wrong_type, fmt::format("\"{}\" is not a number", key)});
      return;
    case json_field::status::ok: break;
  }
  if (number.value < metric->min || number.value > metric->max) {
    out.field_rejections.push_back({reject_reason::out_of_range, fmt::format("\"{}\" = {} is outside {} … {} {}", key,
                                                                             number.value, metric->min, metric->max, metric->unit)});
    return;
  }
  out.readings.push_back({metric, number.value + 0.0});  // + 0.0: a "-0" is stored as 0
}

std::optional<rejection> native_driver::decode_faults(simdjson::ondemand::value value, std::vector<std::string>& codes) {
  simdjson::ondemand::array faults;
  if (value.get_array().get(faults)) return rejection{reject_reason::wrong_type, "\"faults\" must be an array of strings"};
  for (auto item : faults) {
    std::string_view code;
    if (item.get_string().get(code) || code.empty() || code.size() > 64) {
      return rejection{reject_reason::wrong_type, "\"faults\" must be an array of short strings"};
    }
    if (codes.size() >= 32) return rejection{reject_reason::out_of_range, "more than 32 fault codes"};
    if (std::find(codes.begin(), codes.end(), code) == codes.end()) codes.emplace_back(code);
  }
  return std::nullopt;
}

// ---- factory ----------------------------------------------------------------

}  // namespace

std::unique_ptr<driver> make_native_driver(const driver_settings&) { return std::make_unique<native_driver>(); }

const driver_descriptor native_driver_descriptor{
    "native",
    "the commune's own JSON format for streetlights, environment stations and cameras (docs/native-format.md)",
    default_topics,
    true,
    &make_native_driver,
};

}  // namespace communegw
