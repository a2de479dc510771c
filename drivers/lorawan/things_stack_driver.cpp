// The Things Stack v3 driver. Reads in the order every driver file uses:
// descriptor, topic parsing, payload decoding, factory.
//
// The JSON is the Protobuf JSON mapping of ApplicationUp (snake_case names);
// members holding a default value are left out, so a missing f_cnt is frame
// counter 0.
#include "drivers/lorawan/things_stack_driver.hpp"

#include <array>

#include <fmt/format.h>
#include <simdjson.h>

#include "drivers/device_name.hpp"
#include "drivers/json_field.hpp"
#include "drivers/lorawan/lorawan_uplink.hpp"
#include "drivers/readings.hpp"

namespace communegw {
namespace {

constexpr std::array<std::string_view, 2> default_topics{"v3/+/devices/+/up", "v3/+/devices/+/join"};

// Warnings of one uplink kept as field rejections; a codec emitting hundreds
// must not flood the quarantine.
constexpr int max_codec_warnings = 8;

// ---- topic ----------------------------------------------------------------

enum class message_type { up, join, ignored };

struct things_stack_topic {
  message_type type = message_type::ignored;
  std::string_view application;  // "<application id>@<tenant id>"
  std::string_view device;
};

// v3/<application>@<tenant>/devices/<device>/<type…>; nullopt when not that shape.
std::optional<things_stack_topic> parse_topic(std::string_view topic) {
  std::array<std::string_view, 4> levels;
  for (auto& level : levels) {
    const auto slash = topic.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    level = topic.substr(0, slash);
    topic.remove_prefix(slash + 1);
  }
  if (levels[0] != "v3" || levels[1].empty() || levels[2] != "devices" || levels[3].empty() || topic.empty()) return std::nullopt;
  things_stack_topic parsed;
  parsed.application = levels[1];
  parsed.device = levels[3];
  parsed.type = topic == "up" ? message_type::up : topic == "join" ? message_type::join : message_type::ignored;
  return parsed;
}

// ---- payload --------------------------------------------------------------

class things_stack_driver final : public driver {
 public:
  explicit things_stack_driver(const driver_settings& settings) : settings_(read_lorawan_settings(settings)) {}
  decode_result decode(std::string_view topic, std::string_view payload) override;
  void release_memory() override { json_field::release(parser_, buffer_); }

 private:
  std::optional<rejection> decode_uplink_message(simdjson::ondemand::value uplink, decoded_message& out);
  void read_warnings(simdjson::ondemand::value warnings, decoded_message& out);
  decode_result decode_join(decoded_message out, simdjson::ondemand::document& doc, simdjson::ondemand::object& message);

  lorawan_settings settings_;
  simdjson::ondemand::parser parser_;
  json_field::padded_buffer buffer_;
  uplink_frame frame_;  // of the uplink being decoded
};

decode_result things_stack_driver::decode(std::string_view topic, std::string_view payload) {
  const auto where = parse_topic(topic);
  if (!where) return rejection{reject_reason::unknown_topic, "not v3/<application>@<tenant>/devices/<device>/<message>"};
  if (where->type == message_type::ignored) return ignored_message(ignore_reason::ignored_topic);
  decoded_message out;
  // Device ids are unique per application only: the application is part of the id.
  const auto id = normalise_device_id("tts/", fmt::format("{}/{}", where->application, where->device));
  if (!id) return rejection{reject_reason::unknown_topic, "application or device id is not UTF-8 or holds control characters"};
  out.device_id = *id;
  out.kind = settings_.kind;

  simdjson::ondemand::document doc;
  simdjson::ondemand::object message;
  if (auto error = json_field::open_object(parser_, buffer_, payload, doc, message)) return std::move(*error);
  if (where->type == message_type::join) return decode_join(std::move(out), doc, message);
  frame_ = {};
  bool has_uplink = false, simulated = false;
  std::optional<std::int64_t> uplink_time;
  for (auto field : message) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (auto error = json_field::read_member(field, key, value)) return std::move(*error);
    if (key == "uplink_message") {
      has_uplink = true;
      if (auto error = decode_uplink_message(value, out)) return std::move(*error);
      uplink_time = out.device_time_ms;
    } else if (key == "received_at") {
      read_network_time(value, out, "received_at");
    } else if (key == "simulated") {
      bool flag = false;
      simulated = value.get_bool().get(flag) == simdjson::SUCCESS && flag;
    }
  }
  if (auto error = json_field::check_nothing_follows(doc)) return std::move(*error);
  if (!has_uplink) return rejection{reject_reason::missing_field, "no \"uplink_message\""};
  // A console test message is not a measurement.
  if (simulated) return rejection{reject_reason::simulated, "a simulated uplink (\"simulated\": true), not a measurement"};
  // The network server's receive time of the frame wins over the application server's.
  if (uplink_time) out.device_time_ms = uplink_time;
  frame_.finish(out, "no \"decoded_payload\": no uplink payload formatter, or it failed");
  return out;
}

std::optional<rejection> things_stack_driver::decode_uplink_message(simdjson::ondemand::value uplink, decoded_message& out) {
  simdjson::ondemand::object object;
  if (const auto error = uplink.get_object().get(object)) {
    if (error == simdjson::INCORRECT_TYPE) return rejection{reject_reason::wrong_type, "\"uplink_message\" is not an object"};
    return rejection{reject_reason::malformed_json, simdjson::error_message(error)};
  }
  for (auto field : object) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (auto error = json_field::read_member(field, key, value)) return error;
    std::optional<rejection> error;
    if (key == "f_cnt" || key == "f_port") error = frame_.read_number(key, value, key == "f_cnt");
    else if (key == "frm_payload") frame_.payload = json_field::read_text(value).value_or(std::string_view{});
    else if (key == "decoded_payload") error = frame_.read_decoded(key, value, settings_.fields, out);
    else if (key == "decoded_payload_warnings") read_warnings(value, out);
    else if (key == "rx_metadata") error = frame_.best.read(value, out);
    else if (key == "received_at") read_network_time(value, out, "uplink_message.received_at");
    if (error) return error;
  }
  return std::nullopt;
}

// A join accepted by the join server: a device event (join_report,
// lorawan_uplink.hpp), the address in end_device_ids.dev_addr.
decode_result things_stack_driver::decode_join(decoded_message out, simdjson::ondemand::document& doc,
                                               simdjson::ondemand::object& message) {
  join_report join;
  for (auto field : message) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (auto error = json_field::read_member(field, key, value)) return std::move(*error);
    if (key == "received_at") {
      read_network_time(value, out, "received_at");
    } else if (key == "end_device_ids") {
      simdjson::ondemand::object ids;
      if (const auto error = value.get_object().get(ids)) {
        if (error != simdjson::INCORRECT_TYPE) return rejection{reject_reason::malformed_json, simdjson::error_message(error)};
        reject_field(out, reject_reason::wrong_type, "\"end_device_ids\" is not an object");
        continue;
      }
      for (auto id_field : ids) {
        std::string_view id_key;
        simdjson::ondemand::value id_value;
        if (auto error = json_field::read_member(id_field, id_key, id_value)) return std::move(*error);
        if (id_key == "dev_addr") join.read_dev_addr(id_value, out, "end_device_ids.dev_addr");
      }
    }
  }
  if (auto error = json_field::check_nothing_follows(doc)) return std::move(*error);
  join.finish(out);
  return out;
}

void things_stack_driver::read_warnings(simdjson::ondemand::value warnings, decoded_message& out) {
  // The formatter decoded the payload but warned (NAS controllers report lamp
  // and DALI faults this way): each warning is counted, the readings are kept.
  simdjson::ondemand::array array;
  if (warnings.get_array().get(array)) {
    reject_field(out, reject_reason::wrong_type, "\"decoded_payload_warnings\" is not an array");
    return;
  }
  int count = 0;
  for (auto element : array) {
    std::string_view text;
    if (element.get_string().get(text)) text = "(not a string)";
    if (++count <= max_codec_warnings) {
      reject_field(out, reject_reason::codec_error, fmt::format("codec warning: {}", text.substr(0, 120)));
    }
  }
}

// ---- factory ----------------------------------------------------------------

}  // namespace

std::unique_ptr<driver> make_things_stack_driver(const driver_settings& settings) {
  return std::make_unique<things_stack_driver>(settings);
}

const driver_descriptor things_stack_driver_descriptor{
    "things_stack",
    "The Things Stack v3 (The Things Network) MQTT server: uplinks (decoded_payload, best gateway RSSI/SNR), "
    "formatter warnings",
    default_topics,
    false,
    &make_things_stack_driver,
    lorawan_options,
};

}  // namespace communegw
