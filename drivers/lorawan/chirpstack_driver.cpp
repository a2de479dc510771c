// ChirpStack driver, v4 and v3. Reads in the order every driver file uses:
// descriptor, topic parsing, payload decoding, factory.
//
// ChirpStack v4's JSON is the Protobuf JSON mapping of its integration events
// (api/proto/integration/integration.proto): members holding a field's
// default value are left out, so a missing fCnt is frame counter 0 and a
// missing margin is 0 dB. Device EUIs are lower-case hex strings.
//
// ChirpStack v3 (still common on deployed network servers) publishes on the
// same topics with its own member names, told apart member by member: the
// codec's output as a string of JSON (objectJSON), the SNR as loRaSNR, the
// device as a top-level devEUI (hex, or base64 from the legacy marshaler),
// the time as publishedAt, and codec errors as an "error" event.
#include "drivers/lorawan/chirpstack_driver.hpp"

#include <array>
#include <cmath>

#include <fmt/format.h>
#include <simdjson.h>

#include "drivers/json_field.hpp"
#include "drivers/lorawan/lorawan_uplink.hpp"
#include "drivers/readings.hpp"

namespace communegw {
namespace {

constexpr std::array<std::string_view, 1> default_topics{"application/+/device/+/event/+"};

// ---- topic ----------------------------------------------------------------

enum class event_type { up, status, log, error, join, ignored };

struct chirpstack_topic {
  event_type type = event_type::ignored;
  std::string dev_eui;  // lower case
};

// application/<id>/device/<devEUI>/event/<type>; nullopt when not that shape.
std::optional<chirpstack_topic> parse_topic(std::string_view topic) {
  std::array<std::string_view, 6> levels;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    const auto slash = topic.find('/');
    if ((slash == std::string_view::npos) != (i + 1 == levels.size())) return std::nullopt;
    levels[i] = topic.substr(0, slash);
    if (slash != std::string_view::npos) topic.remove_prefix(slash + 1);
  }
  if (levels[0] != "application" || levels[1].empty() || levels[2] != "device" || levels[4] != "event") return std::nullopt;
  chirpstack_topic parsed;
  if (levels[3].size() != 16) return std::nullopt;
  for (const char c : levels[3]) {
    const bool digit = c >= '0' && c <= '9';
    const bool lower = c >= 'a' && c <= 'f';
    const bool upper = c >= 'A' && c <= 'F';
    if (!digit && !lower && !upper) return std::nullopt;
    parsed.dev_eui += upper ? static_cast<char>(c + 32) : c;
  }
  const auto type = levels[5];
  parsed.type = type == "up"       ? event_type::up
                : type == "status" ? event_type::status
                : type == "log"    ? event_type::log
                : type == "error"  ? event_type::error
                : type == "join"   ? event_type::join
                                   : event_type::ignored;
  return parsed;
}

// ---- payload --------------------------------------------------------------

// ChirpStack v3's legacy marshaler sends the 8 EUI bytes as base64 (12
// characters); the lower-case hex of them, or empty when it is not that.
std::string eui_from_base64(std::string_view text) {
  if (text.size() != 12 || text.substr(11) != "=") return {};
  auto sextet = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::uint64_t bits = 0;
  for (std::size_t i = 0; i < 11; ++i) {
    const int value = sextet(text[i]);
    if (value < 0) return {};
    bits = (bits << 6) | static_cast<std::uint64_t>(value);
  }
  // 66 bits were read for 64: the last two must be zero padding.
  if ((bits & 3u) != 0) return {};
  return fmt::format("{:016x}", bits >> 2);
}

bool same_eui(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'F' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

class chirpstack_driver final : public driver {
 public:
  explicit chirpstack_driver(const driver_settings& settings) : settings_(read_lorawan_settings(settings)) {}
  decode_result decode(std::string_view topic, std::string_view payload) override;
  void release_memory() override {
    json_field::release(parser_, buffer_);
    json_field::release(codec_parser_, codec_buffer_);
  }

 private:
  decode_result decode_up(decoded_message out, simdjson::ondemand::object& event);
  decode_result decode_status(decoded_message out, simdjson::ondemand::object& event);
  decode_result decode_log(simdjson::ondemand::object& event, std::string_view code_key, std::string_view text_key);
  decode_result decode_join(decoded_message out, simdjson::ondemand::object& event);
  std::optional<rejection> check_device_info(simdjson::ondemand::value info, std::string_view dev_eui);
  // Members every device event has: time, deviceInfo (v4); publishedAt, devEUI (v3).
  std::optional<rejection> read_common(std::string_view key, simdjson::ondemand::value value, decoded_message& out);

  lorawan_settings settings_;
  simdjson::ondemand::parser parser_;
  json_field::padded_buffer buffer_;
  // ChirpStack v3's objectJSON, parsed while the message is still being read.
  simdjson::ondemand::parser codec_parser_;
  json_field::padded_buffer codec_buffer_;
};

decode_result chirpstack_driver::decode(std::string_view topic, std::string_view payload) {
  const auto where = parse_topic(topic);
  if (!where) {
    return rejection{reject_reason::unknown_topic, "not application/<id>/device/<16 hex digit devEUI>/event/<type>"};
  }
  if (where->type == event_type::ignored) return ignored_message(ignore_reason::ignored_topic);
  simdjson::ondemand::document doc;
  simdjson::ondemand::object event;
  if (auto error = json_field::open_object(parser_, buffer_, payload, doc, event)) return std::move(*error);
  decoded_message out;
  out.device_id = "chirpstack/" + where->dev_eui;
  out.kind = settings_.kind;
  decode_result result = where->type == event_type::up       ? decode_up(std::move(out), event)
                         : where->type == event_type::status ? decode_status(std::move(out), event)
                         : where->type == event_type::join   ? decode_join(std::move(out), event)
                         : where->type == event_type::error  ? decode_log(event, "type", "error")
                                                             : decode_log(event, "code", "description");
  if (std::holds_alternative<rejection>(result)) return result;
  if (auto error = json_field::check_nothing_follows(doc)) return std::move(*error);
  return result;
}

std::optional<rejection> chirpstack_driver::check_device_info(simdjson::ondemand::value info, std::string_view dev_eui) {
  simdjson::ondemand::object object;
  if (const auto error = info.get_object().get(object)) {
    if (error == simdjson::INCORRECT_TYPE) return rejection{reject_reason::wrong_type, "\"deviceInfo\" is not an object"};
    return rejection{reject_reason::malformed_json, simdjson::error_message(error)};
  }
  for (auto field : object) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (auto error = json_field::read_member(field, key, value)) return error;
    if (key != "devEui") continue;
    const auto text = json_field::read_text(value);
    if (!text || !same_eui(*text, dev_eui)) {
      // A message about one device published under another's topic: whose
      // readings would they be?
      return rejection{reject_reason::unknown_value, "\"deviceInfo.devEui\" is not the devEUI of the topic"};
    }
  }
  return std::nullopt;
}

std::optional<rejection> chirpstack_driver::read_common(std::string_view key, simdjson::ondemand::value value,
                                                        decoded_message& out) {
  const auto dev_eui = std::string_view(out.device_id).substr(sizeof "chirpstack/" - 1);
  if (key == "time" || key == "publishedAt") {
    read_network_time(value, out, key);
  } else if (key == "deviceInfo") {
    return check_device_info(value, dev_eui);
  } else if (key == "devEUI") {
    const auto text = json_field::read_text(value);
    if (!text || (!same_eui(*text, dev_eui) && eui_from_base64(*text) != dev_eui)) {
      return rejection{reject_reason::unknown_value, "\"devEUI\" is not the devEUI of the topic"};
    }
  }
  return std::nullopt;
}

decode_result chirpstack_driver::decode_up(decoded_message out, simdjson::ondemand::object& event) {
  uplink_frame frame;
  for (auto field : event) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (auto error = json_field::read_member(field, key, value)) return std::move(*error);
    std::optional<rejection> error;
    if (key == "fCnt" || key == "fPort") error = frame.read_number(key, value, key == "fCnt");
    else if (key == "data") frame.payload = json_field::read_text(value).value_or(std::string_view{});
    else if (key == "object") error = frame.read_decoded(key, value, settings_.fields, out);
    else if (key == "objectJSON") error = frame.read_decoded_text(key, value, settings_.fields, out, codec_parser_, codec_buffer_);
    else if (key == "rxInfo") error = frame.best.read(value, out);
    else error = read_common(key, value, out);
    if (error) return std::move(*error);
  }
  // ChirpStack publishes the uplink without "object" when the device profile
  // has no codec or the codec failed (then a log event follows).
  frame.finish(out, "no decoded \"object\": no codec, or the codec failed (see its log or error event)");
  return out;
}

decode_result chirpstack_driver::decode_status(decoded_message out, simdjson::ondemand::object& event) {
  double margin = 0;  // left out when 0
  std::optional<double> battery;
  bool external_power = false, battery_unavailable = false;
  for (auto field : event) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (auto error = json_field::read_member(field, key, value)) return std::move(*error);
    if (key == "margin" || key == "batteryLevel") {
      const auto number = json_field::read_number(value);
      json_field::count_no_value(number, out, key);
      if (number.state == json_field::status::wrong_type) {
        reject_field(out, reject_reason::wrong_type, fmt::format("\"{}\" is not a number", key));
        if (key == "margin") margin = NAN;
      } else if (key == "margin") {
        margin = number.state == json_field::status::ok ? number.value : NAN;
      } else if (number.state == json_field::status::ok) {
        battery = number.value;
      }
    } else if (key == "externalPowerSource" || key == "batteryLevelUnavailable") {
      bool flag = false;
      if (value.get_bool().get(flag)) reject_field(out, reject_reason::wrong_type, fmt::format("\"{}\" is not true or false", key));
      (key == "externalPowerSource" ? external_power : battery_unavailable) = flag;
    } else if (auto error = read_common(key, value, out)) {
      return std::move(*error);
    }
  }
  if (!std::isnan(margin)) add_reading(out, *find_metric("link_margin"), margin, "margin");
  // On external power or without a gauge, batteryLevel means nothing.
  if (battery && !external_power && !battery_unavailable) add_reading(out, *find_metric("battery_soc"), *battery, "batteryLevel");
  return out;
}

// v4 log events ({"code", "description"}) and v3 error events ({"type", "error"}).
decode_result chirpstack_driver::decode_log(simdjson::ondemand::object& event, std::string_view code_key,
                                            std::string_view text_key) {
  std::string_view code, description;
  for (auto field : event) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (auto error = json_field::read_member(field, key, value)) return std::move(*error);
    if (key != code_key && key != text_key) continue;
    const auto text = json_field::read_text(value);
    if (!text) return rejection{reject_reason::wrong_type, fmt::format("\"{}\" is not a string", key)};
    (key == code_key ? code : description) = *text;
  }
  if (code == "UPLINK_CODEC") {
    // The uplink itself came (or comes) as an "up" event without "object".
    return rejection{reject_reason::codec_error, fmt::format("codec error: {}", description.substr(0, 200))};
  }
  return ignored_message(ignore_reason::ignored_topic);  // other log codes (frame-counter reset, MIC, downlink errors) are the network's business
}

// A join (or rejoin): a device event (join_report, lorawan_uplink.hpp).
decode_result chirpstack_driver::decode_join(decoded_message out, simdjson::ondemand::object& event) {
  join_report join;
  for (auto field : event) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (auto error = json_field::read_member(field, key, value)) return std::move(*error);
    if (key == "devAddr") join.read_dev_addr(value, out, key);
    else if (auto error = read_common(key, value, out)) return std::move(*error);
  }
  join.finish(out);
  return out;
}

// ---- factory ----------------------------------------------------------------

}  // namespace

std::unique_ptr<driver> make_chirpstack_driver(const driver_settings& settings) {
  return std::make_unique<chirpstack_driver>(settings);
}

const driver_descriptor chirpstack_driver_descriptor{
    "chirpstack",
    "ChirpStack v4 and v3 LoRaWAN network server, MQTT integration (JSON): uplinks (codec object, best gateway "
    "RSSI/SNR), device status, joins, codec errors",
    default_topics,
    false,
    &make_chirpstack_driver,
    lorawan_options,
};

}  // namespace communegw
