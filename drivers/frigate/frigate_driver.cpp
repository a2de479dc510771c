// Frigate driver. Reads in the order every driver file uses:
// descriptor, topic parsing, payload decoding, factory.
#include "drivers/frigate/frigate_driver.hpp"

#include <array>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "drivers/availability_word.hpp"
#include "drivers/device_name.hpp"
#include "drivers/json_field.hpp"
#include "drivers/readings.hpp"
#include "drivers/topic_base.hpp"
#include "gateway/model/json_text.hpp"

namespace communegw {
namespace {

constexpr std::array<std::string_view, 1> default_topics{"frigate/#"};

constexpr std::array<std::string_view, 3> severity_choices{"info", "warning", "alarm"};
constexpr std::array options{
    driver_option{"alert_severity", driver_option_kind::choice, "\"warning\"",
                  "Severity of the camera_alert event recorded for a Frigate review item of severity \"alert\" "
                  "(alarm sends it on the uplink's alarm stream).",
                  severity_choices},
    driver_option{"object_severity", driver_option_kind::choice, "\"info\"",
                  "Severity of the camera_object event recorded for each object Frigate tracks.", severity_choices},
};

// ---- topic ----------------------------------------------------------------

enum class frigate_message { events, reviews, available, count, snapshot, ignored };

struct frigate_topic {
  frigate_message type = frigate_message::ignored;
  std::string_view base;
  std::string_view camera;  // count, snapshot: the camera (or zone) level
  std::string_view object;  // count, snapshot: the object level
};

// Per-camera topics of three levels that carry a state, not an object count.
constexpr std::array<std::string_view, 4> camera_state_topics{"motion", "review_status", "status", "activity"};

frigate_topic parse_topic(std::string_view base, std::string_view rest) {
  frigate_topic parsed;
  parsed.base = base;
  std::array<std::string_view, 4> levels;
  std::size_t count = 0;
  for (std::size_t start = 0; count < levels.size();) {
    const auto slash = rest.find('/', start);
    levels[count++] = rest.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
    if (count == levels.size()) return parsed;  // five levels or more: nothing Frigate publishes for us
  }
  if (count == 1) {
    if (levels[0] == "events") parsed.type = frigate_message::events;
    else if (levels[0] == "reviews") parsed.type = frigate_message::reviews;
    else if (levels[0] == "available") parsed.type = frigate_message::available;
    return parsed;  // stats, restart, camera_activity, tracked_object_update …
  }
  if (count == 2) {
    for (const auto name : camera_state_topics) {
      if (levels[1] == name) return parsed;
    }
    parsed.type = frigate_message::count;
  } else if (count == 3 && levels[2] == "snapshot") {
    parsed.type = frigate_message::snapshot;
  } else {
    return parsed;  // <camera>/<switch>/state|set, <camera>/<object>/active, audio levels …
  }
  parsed.camera = levels[0];
  parsed.object = levels[1];
  return parsed;
}

// ---- payload --------------------------------------------------------------

constexpr std::size_t max_zones = 32;
constexpr std::size_t max_name_bytes = 256;

// The parts of a Frigate tracked object ("after") or review item the gateway keeps.
struct tracked_item {
  std::string_view id, camera, label, sub_label, severity;
  std::optional<double> sub_label_score, score, top_score;
  std::optional<std::int64_t> start_ms, end_ms, frame_ms;
  std::vector<std::string_view> entered_zones, current_zones, objects, sub_labels;
  std::optional<std::int64_t> detections;
  bool false_positive = false;
  std::optional<bool> stationary, has_snapshot;
};

std::optional<rejection> read_score(simdjson::ondemand::value value, std::string_view key, std::optional<double>& out) {
  const auto number = json_field::read_number(value);
  if (number.state == json_field::status::unknown) return std::nullopt;
  if (number.state == json_field::status::wrong_type) {
    return rejection{reject_reason::wrong_type, fmt::format("\"{}\" must be a number", key)};
  }
  if (!(number.value >= 0.0 && number.value <= 1.0)) {
    return rejection{reject_reason::out_of_range, fmt::format("\"{}\" = {} is outside 0 … 1", key, number.value)};
  }
  out = number.value;
  return std::nullopt;
}

std::optional<rejection> read_name(simdjson::ondemand::value value, std::string_view key, std::string_view& out) {
  const auto text = json_field::read_text(value);
  if (!text || text->empty() || text->size() > max_name_bytes) {
    return rejection{reject_reason::wrong_type, fmt::format("\"{}\" must be a string of 1 … {} bytes", key, max_name_bytes)};
  }
  out = *text;
  return std::nullopt;
}

std::optional<rejection> read_flag(simdjson::ondemand::value value, std::string_view key, bool& out) {
  bool flag = false;
  if (value.get_bool().get(flag)) return rejection{reject_reason::wrong_type, fmt::format("\"{}\" must be true or false", key)};
  out = flag;
  return std::nullopt;
}

std::optional<rejection> read_time(simdjson::ondemand::value value, std::string_view key, std::optional<std::int64_t>& out) {
  bool is_null = false;
  if (value.is_null().get(is_null) == simdjson::SUCCESS && is_null) return std::nullopt;
  out = json_field::read_timestamp_ms(value);
  if (!out) return rejection{reject_reason::bad_timestamp, fmt::format("\"{}\" must be Unix seconds", key)};
  return std::nullopt;
}

// sub_label: null, "name", or ["name", score] (Frigate 0.14 and later).
std::optional<rejection> read_sub_label(simdjson::ondemand::value value, tracked_item& item) {
  simdjson::ondemand::json_type type;
  if (value.type().get(type)) return rejection{reject_reason::malformed_json, "bad \"sub_label\""};
  if (type == simdjson::ondemand::json_type::null) return std::nullopt;
  if (type == simdjson::ondemand::json_type::string) return read_name(value, "sub_label", item.sub_label);
  simdjson::ondemand::array pair;
  if (type != simdjson::ondemand::json_type::array || value.get_array().get(pair)) {
    return rejection{reject_reason::wrong_type, "\"sub_label\" must be null, a string or [name, score]"};
  }
  std::size_t index = 0;
  for (auto element : pair) {
    simdjson::ondemand::value part;
    if (element.get(part)) return rejection{reject_reason::malformed_json, "bad \"sub_label\" element"};
    if (index == 0) {
      if (auto error = read_name(part, "sub_label", item.sub_label)) return error;
    } else if (index == 1) {
      if (auto error = read_score(part, "sub_label score", item.sub_label_score)) return error;
    }
    ++index;
  }
  if (index != 2) return rejection{reject_reason::wrong_type, "\"sub_label\" must be null, a string or [name, score]"};
  return std::nullopt;
}

// One tracked object ("after" of frigate/events) or review item ("after" of frigate/reviews).
std::optional<rejection> read_item(simdjson::ondemand::object object, tracked_item& item, bool review) {
  for (auto field : object) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (field.unescaped_key().get(key) || field.value().get(value)) return rejection{reject_reason::malformed_json, "bad member of \"after\""};
    std::optional<rejection> error;
    if (key == "id") error = read_name(value, key, item.id);
    else if (key == "camera") error = read_name(value, key, item.camera);
    else if (key == "start_time") error = read_time(value, key, item.start_ms);
    else if (key == "end_time") error = read_time(value, key, item.end_ms);
    else if (review && key == "severity") error = read_name(value, key, item.severity);
    else if (review && key == "data") {
      simdjson::ondemand::object data;
      if (value.get_object().get(data)) return rejection{reject_reason::wrong_type, "\"data\" must be an object"};
      for (auto member : data) {
        std::string_view data_key;
        simdjson::ondemand::value data_value;
        if (member.unescaped_key().get(data_key) || member.value().get(data_value)) return rejection{reject_reason::malformed_json, "bad member of \"data\""};
        if (data_key == "objects") error = json_field::read_text_list(data_value, "data.objects", max_zones, max_name_bytes, item.objects);
        else if (data_key == "zones") error = json_field::read_text_list(data_value, "data.zones", max_zones, max_name_bytes, item.entered_zones);
        else if (data_key == "sub_labels") error = json_field::read_text_list(data_value, "data.sub_labels", max_zones, max_name_bytes, item.sub_labels);
        else if (data_key == "detections") {
          simdjson::ondemand::array ids;
          if (data_value.get_array().get(ids)) return rejection{reject_reason::wrong_type, "\"data.detections\" must be an array"};
          std::size_t n = 0;
          if (ids.count_elements().get(n)) return rejection{reject_reason::malformed_json, "bad \"data.detections\""};
          item.detections = static_cast<std::int64_t>(n);
        }
        if (error) return error;
      }
    } else if (!review) {
      if (key == "label") error = read_name(value, key, item.label);
      else if (key == "sub_label") error = read_sub_label(value, item);
      else if (key == "score") error = read_score(value, key, item.score);
      else if (key == "top_score") error = read_score(value, key, item.top_score);
      else if (key == "frame_time") error = read_time(value, key, item.frame_ms);
      else if (key == "false_positive") error = read_flag(value, key, item.false_positive);
      else if (key == "entered_zones") error = json_field::read_text_list(value, key, max_zones, max_name_bytes, item.entered_zones);
      else if (key == "current_zones") error = json_field::read_text_list(value, key, max_zones, max_name_bytes, item.current_zones);
      else if (key == "stationary" || key == "has_snapshot") {
        bool flag = false;
        error = read_flag(value, key, flag);
        (key == "stationary" ? item.stationary : item.has_snapshot) = flag;
      }
    }
    if (error) return error;
  }
  return std::nullopt;
}

class frigate_driver final : public driver {
 public:
  explicit frigate_driver(const driver_settings& settings);
  decode_result decode(std::string_view topic, std::string_view payload) override;
  void release_memory() override { json_field::release(parser_, buffer_); }

 private:
  decode_result decode_tracked(const frigate_topic& where, std::string_view payload, bool review);
  decode_result decode_count(const frigate_topic& where, std::string_view payload);
  decode_result decode_snapshot(const frigate_topic& where, std::string_view topic, std::string_view payload);
  std::optional<std::string> device_of(const frigate_topic& where, std::string_view camera) const;

  std::vector<std::string> bases_;
  severity alert_severity_ = severity::warning;
  severity object_severity_ = severity::info;
  simdjson::ondemand::parser parser_;
  json_field::padded_buffer buffer_;
};

frigate_driver::frigate_driver(const driver_settings& settings)
    : bases_(bases_from_filters(settings.topics.empty() ? std::vector<std::string>{"frigate/#"} : settings.topics)) {
  if (const auto it = settings.texts.find("alert_severity"); it != settings.texts.end()) {
    alert_severity_ = parse_severity(it->second).value_or(severity::warning);
  }
  if (const auto it = settings.texts.find("object_severity"); it != settings.texts.end()) {
    object_severity_ = parse_severity(it->second).value_or(severity::info);
  }
}

std::optional<std::string> frigate_driver::device_of(const frigate_topic& where, std::string_view camera) const {
  return normalise_device_id(std::string(where.base) + "/", camera);
}

decode_result frigate_driver::decode(std::string_view topic, std::string_view payload) {
  const auto under = split_base(bases_, topic);
  if (!under) return rejection{reject_reason::unknown_topic, "topic is not under a configured Frigate topic prefix"};
  const auto where = parse_topic(under->base, under->rest);
  switch (where.type) {
    case frigate_message::events: return decode_tracked(where, payload, false);
    case frigate_message::reviews: return decode_tracked(where, payload, true);
    case frigate_message::count: return decode_count(where, payload);
    case frigate_message::snapshot: return decode_snapshot(where, topic, payload);
    case frigate_message::available: {
      decoded_message out;
      out.device_id = std::string(where.base);  // the Frigate server
      out.kind = device_kind::gateway;
      if (!simdjson::validate_utf8(payload.data(), payload.size())) return rejection{reject_reason::binary_payload, "payload is not UTF-8 text"};
      out.reported_availability = parse_availability_word(payload);
      if (!out.reported_availability) {
        return rejection{reject_reason::unknown_value, fmt::format("available must be online or offline, not \"{}\"", payload.substr(0, 32))};
      }
      return out;
    }
    case frigate_message::ignored: break;
  }
  return ignored_message(ignore_reason::ignored_topic);
}

decode_result frigate_driver::decode_tracked(const frigate_topic& where, std::string_view payload, bool review) {
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (auto error = json_field::open_object(parser_, buffer_, payload, doc, object)) return std::move(*error);
  std::string_view type;
  tracked_item item;
  bool has_after = false;
  for (auto field : object) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (field.unescaped_key().get(key) || field.value().get(value)) return rejection{reject_reason::malformed_json, "bad member"};
    if (key == "type") {
      if (value.get_string().get(type)) return rejection{reject_reason::wrong_type, "\"type\" must be a string"};
    } else if (key == "after") {
      simdjson::ondemand::object after;
      if (value.get_object().get(after)) return rejection{reject_reason::wrong_type, "\"after\" must be an object"};
      if (auto error = read_item(after, item, review)) return std::move(*error);
      has_after = true;
    }
    // "before" is the state before this change: "after" holds everything it did and more.
  }
  if (auto error = json_field::check_nothing_follows(doc)) return std::move(*error);

  if (type.empty()) return rejection{reject_reason::missing_field, "message without \"type\""};
  if (type != "new" && type != "update" && type != "end") {
    return rejection{reject_reason::unknown_value, fmt::format("\"type\" = \"{}\" is not new, update or end", type.substr(0, 32))};
  }
  if (!has_after) return rejection{reject_reason::missing_field, "message without \"after\""};
  if (item.id.empty()) return rejection{reject_reason::missing_field, "\"after\" without \"id\""};
  if (item.camera.empty()) return rejection{reject_reason::missing_field, "\"after\" without \"camera\""};
  const auto id = device_of(where, item.camera);
  if (!id) return rejection{reject_reason::unknown_topic, "camera name is not UTF-8 or holds control characters"};

  decoded_message out;
  out.device_id = *id;
  out.kind = device_kind::camera;
  out.device_time_ms = item.frame_ms;
  event ev;
  ev.start_ms = item.start_ms;
  ev.end_ms = item.end_ms;
  ev.closed = type == "end" || item.end_ms.has_value();
  std::string& attributes = ev.attributes_json;
  attributes.assign(1, '{');
  auto add = [&](std::string_view key) {
    if (attributes.size() > 1) attributes += ',';
    append_json_string(attributes, key);
    attributes += ':';
  };
  const auto& zones = item.entered_zones.empty() ? item.current_zones : item.entered_zones;
  if (review) {
    if (item.severity.empty()) return rejection{reject_reason::missing_field, "review item without \"severity\""};
    if (item.severity != "alert" && item.severity != "detection") {
      return rejection{reject_reason::unknown_value, fmt::format("\"severity\" = \"{}\" is not alert or detection", item.severity.substr(0, 32))};
    }
    // Detections are the tracked objects of frigate/events, already recorded
    // one by one; only an alert is an incident of its own.
    if (item.severity != "alert") return out;
    ev.kind = "camera_alert";
    ev.level = alert_severity_;
    ev.incident = fmt::format("review:{}", item.id);
    if (!item.objects.empty()) add("objects"), json_field::append_text_list(attributes, item.objects);
    if (!item.sub_labels.empty()) add("sub_labels"), json_field::append_text_list(attributes, item.sub_labels);
    if (item.detections) add("detections"), attributes += std::to_string(*item.detections);
  } else {
    if (item.label.empty()) return rejection{reject_reason::missing_field, "\"after\" without \"label\""};
    // Frigate publishes an object once it is no longer a false positive; one
    // that is flagged as such is not an incident.
    if (item.false_positive) return out;
    ev.kind = "camera_object";
    ev.level = object_severity_;
    ev.incident = fmt::format("object:{}", item.id);
    add("object_class"), append_json_string(attributes, item.label);
    if (!item.sub_label.empty()) add("sub_label"), append_json_string(attributes, item.sub_label);
    if (item.sub_label_score) add("sub_label_score"), fmt::format_to(std::back_inserter(attributes), "{:.4g}", *item.sub_label_score);
    if (const auto score = item.top_score ? item.top_score : item.score) {
      add("score"), fmt::format_to(std::back_inserter(attributes), "{:.4g}", *score);
    }
    if (item.stationary) add("stationary"), attributes += *item.stationary ? "true" : "false";
    if (item.has_snapshot) add("has_snapshot"), attributes += *item.has_snapshot ? "true" : "false";
  }
  if (!zones.empty()) add("zones"), json_field::append_text_list(attributes, zones);
  attributes += '}';
  out.events.push_back(std::move(ev));
  return out;
}

decode_result frigate_driver::decode_count(const frigate_topic& where, std::string_view payload) {
  decoded_message out;
  const auto camera = device_of(where, where.camera);
  const auto id = camera ? normalise_device_id(*camera + "/", where.object) : std::nullopt;
  if (!id) return rejection{reject_reason::unknown_topic, "camera or object name is empty, not UTF-8 or holds control characters"};
  out.device_id = *id;
  out.kind = device_kind::camera;
  if (!simdjson::validate_utf8(payload.data(), payload.size())) return rejection{reject_reason::binary_payload, "payload is not UTF-8 text"};
  std::string_view text = payload;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  const auto number = json_field::parse_number_text(text);
  if (!number || *number != static_cast<double>(static_cast<std::int64_t>(*number))) {
    reject_field(out, reject_reason::wrong_type, fmt::format("object count \"{}\" is not a whole number", text.substr(0, 32)));
    return out;
  }
  add_reading(out, *find_metric("object_count"), *number, where.object);
  return out;
}

decode_result frigate_driver::decode_snapshot(const frigate_topic& where, std::string_view topic, std::string_view payload) {
  decoded_message out;
  const auto id = device_of(where, where.camera);
  if (!id) return rejection{reject_reason::unknown_topic, "camera name is empty, not UTF-8 or holds control characters"};
  out.device_id = *id;
  out.kind = device_kind::camera;
  if (payload.empty()) return out;  // a retained snapshot being cleared
  // JPEG starts with the SOI marker FF D8 and a third marker byte FF.
  if (payload.size() < 4 || static_cast<unsigned char>(payload[0]) != 0xFF || static_cast<unsigned char>(payload[1]) != 0xD8 ||
      static_cast<unsigned char>(payload[2]) != 0xFF) {
    return rejection{reject_reason::wrong_type, "snapshot is not a JPEG image", false};
  }
  // And ends with the EOI marker FF D9 (some encoders pad with zero bytes
  // after it). Inside the compressed data an FF is always followed by 00 or a
  // restart marker, so a cut-off image cannot end in FF D9 by chance.
  auto end = payload.size();
  while (end > 4 && payload[end - 1] == '\0' && payload.size() - end < 64) --end;
  if (static_cast<unsigned char>(payload[end - 2]) != 0xFF || static_cast<unsigned char>(payload[end - 1]) != 0xD9) {
    return rejection{reject_reason::truncated,
                     fmt::format("snapshot of {} bytes has no JPEG end marker: the image was cut short", payload.size()),
                     false};
  }
  if (where.object.empty() || where.object.size() > max_name_bytes || topic.size() > 512 ||
      !simdjson::validate_utf8(topic.data(), topic.size())) {
    return rejection{reject_reason::unknown_topic, "object name is empty, too long or not UTF-8"};
  }
  // The image stays on the broker (Frigate retains it): the event keeps where
  // it is and how big it was, never the bytes.
  event ev;
  ev.kind = "camera_snapshot";
  ev.attributes_json = "{\"object_class\":";
  append_json_string(ev.attributes_json, where.object);
  ev.attributes_json += fmt::format(",\"bytes\":{},\"snapshot\":", payload.size());
  append_json_string(ev.attributes_json, topic);
  ev.attributes_json += '}';
  out.events.push_back(std::move(ev));
  return out;
}

// ---- factory ----------------------------------------------------------------

}  // namespace

std::unique_ptr<driver> make_frigate_driver(const driver_settings& settings) {
  return std::make_unique<frigate_driver>(settings);
}

const driver_descriptor frigate_driver_descriptor{
    "frigate",
    "Frigate NVR: tracked objects and alerts as one event per incident, object counts, snapshots (size only), "
    "server availability",
    default_topics,
    false,
    &make_frigate_driver,
    options,
};

}  // namespace communegw
