// ChirpStack v4 driver. Reads in the order every driver file uses:
// descriptor, topic parsing, payload decoding, factory.
//
// ChirpStack's JSON is the Protobuf JSON mapping of its integration events
// (api/proto/integration/integration.proto): members holding a field's
// default value are left out, so a missing fCnt is frame counter 0 and a
// missing margin is 0 dB. Device EUIs are lower-case hex strings.
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

enum class event_type { up, status, log, join, ignored };

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
                : type == "join"   ? event_type::join
                                   : event_type::ignored;
  return parsed;
}

// ---- payload --------------------------------------------------------------

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

 private:
  decode_result decode_up(decoded_message out, simdjson::ondemand::object& event);
  decode_result decode_status(decoded_message out, simdjson::ondemand::object& event);
  decode_result decode_log(simdjson::ondemand::object& event);
  std::optional<rejection> check_device_info(simdjson::ondemand::value info, std::string_view dev_eui);
  // Members every device event has: time, deviceInfo.
  std::optional<rejection> read_common(std::string_view key, simdjson::ondemand::value value, decoded_message& out);

  lorawan_settings settings_;
  simdjson::ondemand::parser parser_;
  json_field::padded_buffer buffer_;
};

decode_result chirpstack_driver::decode(std::string_view topic, std::string_view payload) {
  const auto where = parse_topic(topic);
  if (!where) {
    return rejection{reject_reason::unknown_topic, "not application/<id>/device/<16 hex digit devEUI>/event/<type>"};
  }
  if (where->type == event_type::ignored) return decoded_message{};
  if (where->type == event_type::join) {
    // A join says the device restarted its session; its uplinks say it is
    // there. LoRaWAN has no "gone" message, so an "online" from a join could
    // never be withdrawn: nothing is stored, the message is only checked.
    if (auto error = check_json_object(parser_, buffer_, payload)) return std::move(*error);
    return decoded_message{};
  }
  simdjson::ondemand::document doc;
  simdjson::ondemand::object event;
  if (auto error = json_field::open_object(parser_, buffer_, payload, doc, event)) return std::move(*error);
  decoded_message out;
  out.device_id = "chirpstack/" + where->dev_eui;
  out.kind = settings_.kind;
  decode_result result = where->type == event_type::up       ? decode_up(std::move(out), event)
                         : where->type == event_type::status ? decode_status(std::move(out), event)
                                                             : decode_log(event);
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
  if (key == "time") read_network_time(value, out, "time");
  else if (key == "deviceInfo") return check_device_info(value, out.device_id.substr(sizeof "chirpstack/" - 1));
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
    else if (key == "rxInfo") error = frame.best.read(value, out);
    else error = read_common(key, value, out);
    if (error) return std::move(*error);
  }
  // ChirpStack publishes the uplink without "object" when the device profile
  // has no codec or the codec failed (then a log event follows).
  frame.finish(out, "no decoded \"object\": no codec, or the codec failed (see its log event)");
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

decode_result chirpstack_driver::decode_log(simdjson::ondemand::object& event) {
  std::string_view code, description;
  for (auto field : event) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (auto error = json_field::read_member(field, key, value)) return std::move(*error);
    if (key != "code" && key != "description") continue;
    const auto text = json_field::read_text(value);
    if (!text) return rejection{reject_reason::wrong_type, fmt::format("\"{}\" is not a string", key)};
    (key == "code" ? code : description) = *text;
  }
  if (code == "UPLINK_CODEC") {
    // The uplink itself came (or comes) as an "up" event without "object".
    return rejection{reject_reason::codec_error, fmt::format("codec error: {}", description.substr(0, 200))};
  }
  return decoded_message{};  // other log codes (frame-counter reset, MIC, downlink errors) are the network's business
}

// ---- factory ----------------------------------------------------------------

}  // namespace

std::unique_ptr<driver> make_chirpstack_driver(const driver_settings& settings) {
  return std::make_unique<chirpstack_driver>(settings);
}

const driver_descriptor chirpstack_driver_descriptor{
    "chirpstack",
    "ChirpStack v4 LoRaWAN network server, MQTT integration (JSON): uplinks (codec object, best gateway RSSI/SNR), "
    "device status, codec errors",
    default_topics,
    false,
    &make_chirpstack_driver,
    lorawan_options,
};

}  // namespace communegw
