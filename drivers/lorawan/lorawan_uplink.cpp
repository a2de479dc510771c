#include "drivers/lorawan/lorawan_uplink.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "drivers/json_field.hpp"
#include "drivers/readings.hpp"
#include "gateway/model/received_message.hpp"
#include "gateway/model/timestamp.hpp"

namespace communegw {
namespace {

constexpr std::array<std::string_view, 2> codec_choices{"builtin", "none"};

}  // namespace

extern const std::array<driver_option, 3> lorawan_options{
    driver_option{"device_kind", driver_option_kind::choice, "\"environment\"",
                  "Device kind recorded for every device of this network server (streetlight controllers: "
                  "streetlight).",
                  device_kind_choices},
    driver_option{"codec_mapping", driver_option_kind::choice, "\"builtin\"",
                  "builtin: the codec's decoded object is also read by the names common codecs use (temperature, "
                  "humidity, pm2_5 …, and NAS-style keys with a unit suffix such as mains_voltage__V, "
                  "dimming_level__percent, mcu_temperature__C), at any depth; none: only the field tables below.",
                  codec_choices},
    driver_option{"field", driver_option_kind::table_list, "",
                  "A value of the codec's decoded object and the metric it becomes; the pointer starts inside that "
                  "object (\"/temp\" is object.temp). A field that read its metric in a message wins over a built-in name "
                  "for that metric in that message.",
                  {}, nullptr, field_table_members, false, {}, &check_field_table},
};

lorawan_settings read_lorawan_settings(const driver_settings& settings) {
  lorawan_settings out;
  if (const auto it = settings.texts.find("device_kind"); it != settings.texts.end() && it->second == "streetlight") {
    out.kind = device_kind::streetlight;
  }
  const auto codec = settings.texts.find("codec_mapping");
  const bool builtin = codec == settings.texts.end() || codec->second == "builtin";
  const auto fields = settings.tables.find("field");
  out.fields = field_mapping(fields == settings.tables.end() ? std::vector<driver_table>{} : fields->second, builtin);
  out.fields.set_registry(settings.registry);
  return out;
}

std::optional<rejection> best_gateway::read(simdjson::ondemand::value gateways, decoded_message& out) {
  simdjson::ondemand::array array;
  if (const auto error = gateways.get_array().get(array)) {
    if (error == simdjson::INCORRECT_TYPE) {
      reject_field(out, reject_reason::wrong_type, "the gateway metadata is not an array");
      return std::nullopt;
    }
    return rejection{reject_reason::malformed_json, simdjson::error_message(error)};
  }
  bool reported_wrong_type = false;
  for (auto element : array) {
    simdjson::ondemand::object gateway;
    if (const auto error = element.get_object().get(gateway)) {
      if (error != simdjson::INCORRECT_TYPE) return rejection{reject_reason::malformed_json, simdjson::error_message(error)};
      continue;  // not an object: nothing to read in it
    }
    std::optional<double> rssi, snr;
    for (auto field : gateway) {
      std::string_view key;
      simdjson::ondemand::value value;
      if (auto error = json_field::read_member(field, key, value)) return error;
      // ChirpStack v3 calls the SNR loRaSNR.
      const bool is_snr = key == "snr" || key == "loRaSNR";
      if (key != "rssi" && !is_snr) continue;
      const auto number = json_field::read_number(value);
      json_field::count_no_value(number, out, fmt::format("gateway {}", key));
      if (number.state == json_field::status::ok) (is_snr ? snr : rssi) = number.value;
      else if (number.state == json_field::status::wrong_type && !reported_wrong_type) {
        reject_field(out, reject_reason::wrong_type, fmt::format("gateway \"{}\" is not a number", key));
        reported_wrong_type = true;
      }
    }
    if (!rssi && !snr) continue;
    // A gateway that reports an SNR beats one that does not; then the higher
    // SNR wins; the higher RSSI breaks ties.
    bool better = !rssi_ && !snr_;
    if (!better && snr.has_value() != snr_.has_value()) better = snr.has_value();
    else if (!better && snr && *snr != *snr_) better = *snr > *snr_;
    else if (!better) better = rssi && (!rssi_ || *rssi > *rssi_);
    if (better) {
      rssi_ = rssi;
      snr_ = snr;
    }
  }
  return std::nullopt;
}

void best_gateway::add_readings(decoded_message& out) const {
  if (rssi_) add_reading(out, *find_metric("rssi"), *rssi_, "rssi");
  if (snr_) add_reading(out, *find_metric("snr"), *snr_, "snr");
}

void read_network_time(simdjson::ondemand::value value, decoded_message& out, std::string_view name) {
  const auto text = json_field::read_text(value);
  const auto when = text ? parse_rfc3339_ms(*text) : std::nullopt;
  if (when) out.device_time_ms = when;
  else reject_field(out, reject_reason::bad_timestamp, fmt::format("\"{}\" is not an RFC 3339 time", name));
}

std::optional<rejection> uplink_frame::read_number(std::string_view key, simdjson::ondemand::value value, bool is_counter) {
  const auto number = json_field::read_non_negative_integer(value);
  if (!number || *number > max_frame_counter) {
    return rejection{reject_reason::wrong_type, fmt::format("\"{}\" is not a 32-bit frame counter or port", key)};
  }
  (is_counter ? counter : port) = *number;
  return std::nullopt;
}

std::optional<rejection> uplink_frame::read_decoded(std::string_view key, simdjson::ondemand::value value,
                                                    const field_mapping& fields, decoded_message& out) {
  decoded = true;  // a wrong one is refused below, not also counted as missing
  simdjson::ondemand::object object;
  if (const auto error = value.get_object().get(object)) {
    if (error != simdjson::INCORRECT_TYPE) return rejection{reject_reason::malformed_json, simdjson::error_message(error)};
    reject_field(out, reject_reason::wrong_type, fmt::format("\"{}\" (the codec's output) is not a JSON object", key));
    return std::nullopt;
  }
  return fields.apply(object, out);
}

std::optional<rejection> uplink_frame::read_decoded_text(std::string_view key, simdjson::ondemand::value value,
                                                         const field_mapping& fields, decoded_message& out,
                                                         simdjson::ondemand::parser& parser,
                                                         json_field::padded_buffer& buffer) {
  const auto text = json_field::read_text(value);
  if (!text) {
    decoded = true;
    reject_field(out, reject_reason::wrong_type, fmt::format("\"{}\" (the codec's output) is not a string", key));
    return std::nullopt;
  }
  if (text->empty() || *text == "null") return std::nullopt;  // no codec output: counted as missing by finish()
  decoded = true;
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (auto error = json_field::open_object(parser, buffer, *text, doc, object)) {
    reject_field(out, error->reason, fmt::format("\"{}\" (the codec's output): {}", key, error->detail));
    return std::nullopt;
  }
  if (auto error = fields.apply(object, out)) {
    reject_field(out, error->reason, fmt::format("\"{}\" (the codec's output): {}", key, error->detail));
    return std::nullopt;
  }
  if (auto error = json_field::check_nothing_follows(doc)) {
    reject_field(out, error->reason, fmt::format("\"{}\" (the codec's output): {}", key, error->detail));
  }
  return std::nullopt;
}

void uplink_frame::finish(decoded_message& out, std::string_view missing) const {
  if (!decoded && !payload.empty()) reject_field(out, reject_reason::missing_field, std::string(missing));
  best.add_readings(out);
  out.sequence = counter;
  out.identity = frame_identity(out.device_id, counter, port, payload);
}

void join_report::read_dev_addr(simdjson::ondemand::value value, decoded_message& out, std::string_view name) {
  const auto text = json_field::read_text(value);
  const bool hex = text && text->size() == 8 && std::all_of(text->begin(), text->end(), [](char c) {
                     return std::isxdigit(static_cast<unsigned char>(c)) != 0;
                   });
  if (hex) dev_addr = *text;
  else reject_field(out, reject_reason::wrong_type, fmt::format("\"{}\" is not 8 hex digits", name));
}

void join_report::finish(decoded_message& out) const {
  event joined;
  joined.kind = "lorawan_join";
  joined.level = severity::info;
  joined.start_ms = out.device_time_ms;
  joined.attributes_json = dev_addr.empty() ? "{}" : fmt::format("{{\"dev_addr\":\"{}\"}}", dev_addr);
  out.events.push_back(std::move(joined));
}

std::uint64_t frame_identity(std::string_view device_id, std::int64_t frame_counter, std::int64_t port,
                             std::string_view frame_payload) {
  fmt::memory_buffer key;  // on the stack for any frame a LoRaWAN region allows
  fmt::format_to(std::back_inserter(key), "{}\n{}\n{}", frame_counter, port, frame_payload);
  return message_identity(device_id, std::string_view(key.data(), key.size()));
}

}  // namespace communegw
