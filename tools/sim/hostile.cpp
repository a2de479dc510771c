#include "tools/sim/hostile.hpp"

#include <array>

#include <fmt/format.h>

namespace communegw {
namespace {

constexpr std::size_t oversized_bytes = 96 * 1024;

template <std::size_t N>
std::string_view pick(const std::array<std::string_view, N>& options, std::mt19937_64& rng) {
  return options[std::uniform_int_distribution<std::size_t>(0, N - 1)(rng)];
}

// Replaces the value of a top-level member of one of our own payloads (flat
// objects whose values hold no ',' or '}'); returns false if `key` is absent.
bool replace_value(std::string& payload, std::string_view key, std::string_view new_value) {
  const auto marker = fmt::format("\"{}\":", key);
  const auto at = payload.find(marker);
  if (at == std::string::npos) return false;
  const auto begin = at + marker.size();
  auto end = payload.find_first_of(",}", begin);
  if (end == std::string::npos) end = payload.size();
  payload.replace(begin, end - begin, new_value);
  return true;
}

std::string_view field_to_break(message_class cls, std::mt19937_64& rng) {
  if (cls == message_class::streetlight_status) {
    return pick(std::array<std::string_view, 4>{"battery_voltage", "battery_soc", "pv_power", "controller_temperature"}, rng);
  }
  return pick(std::array<std::string_view, 4>{"pm2_5", "pm10", "humidity", "water_level"}, rng);
}

}  // namespace

std::string_view to_string(hostile_kind kind) {
  static constexpr std::array<std::string_view, hostile_kind_count> names{
      "malformed_json", "not_an_object", "wrong_type_field", "out_of_range_field", "bad_timestamp",
      "bad_seq",        "unknown_topic", "binary_garbage",   "oversized"};
  const auto index = static_cast<std::size_t>(kind);
  return index < names.size() ? names[index] : "unknown";
}

hostile_expectation expected_outcome(hostile_kind kind, message_class cls) {
  const bool has_readings = cls != message_class::camera_event;
  switch (kind) {
    case hostile_kind::malformed_json: return {false, "malformed_json"};
    case hostile_kind::not_an_object: return {false, "wrong_type"};
    // A reading is refused on its own and the message's other readings are kept;
    // a camera event has no readings, so its bad member refuses the whole event.
    case hostile_kind::wrong_type_field: return {has_readings, "wrong_type"};
    case hostile_kind::out_of_range_field: return {has_readings, "out_of_range"};
    case hostile_kind::bad_timestamp: return {false, "bad_timestamp"};
    case hostile_kind::bad_seq: return {false, "wrong_type"};
    case hostile_kind::unknown_topic: return {false, "unknown_topic"};
    case hostile_kind::binary_garbage: return {false, "binary_payload"};
    case hostile_kind::oversized: return {false, "oversized_payload"};
    case hostile_kind::count_: break;
  }
  return {false, "unknown"};
}

hostile_kind pick_hostile_kind(std::mt19937_64& rng) {
  return static_cast<hostile_kind>(std::uniform_int_distribution<std::size_t>(0, hostile_kind_count - 1)(rng));
}

sim_message make_hostile(sim_message valid, hostile_kind kind, std::mt19937_64& rng) {
  auto& payload = valid.payload;
  const bool camera = valid.cls == message_class::camera_event;
  switch (kind) {
    case hostile_kind::malformed_json: {
      const auto variant = std::uniform_int_distribution<int>(0, 3)(rng);
      if (variant == 0) {
        // Cut short by a radio link: somewhere inside, never a complete object.
        payload.resize(std::uniform_int_distribution<std::size_t>(1, payload.size() - 2)(rng));
      } else if (variant == 1) {
        payload[1] = '\'';  // single quotes from a hand-written firmware
        if (const auto quote = payload.find('"', 2); quote != std::string::npos) payload[quote] = '\'';
      } else if (variant == 2) {
        payload.insert(payload.size() - 1, ",}");  // trailing comma and a stray brace
      } else {
        payload += "{\"seq\":";  // two messages glued together by a serial buffer, the second cut
      }
      break;
    }
    case hostile_kind::not_an_object: {
      const auto variant = std::uniform_int_distribution<int>(0, 2)(rng);
      if (variant == 0) payload = "[" + payload + "]";
      else if (variant == 1) payload = "42";
      else payload = "\"OK\"";
      break;
    }
    case hostile_kind::wrong_type_field:
      if (camera) {
        replace_value(payload, "zone", "17");
      } else {
        replace_value(payload, field_to_break(valid.cls, rng), pick(std::array<std::string_view, 4>{"\"high\"", "\"12,9\"", "true", "[1,2]"}, rng));
      }
      break;
    case hostile_kind::out_of_range_field:
      if (camera) {
        // No numeric member on every event: replace the whole event with an impossible crowd.
        payload = fmt::format(R"({{"seq":1,"ts":1,"event":"object","object":{{"class":"person","count":99999}}}})");
      } else {
        // Values no field accepts (a water level of -5 m or a controller at -5 °C would be plausible).
        const auto field = field_to_break(valid.cls, rng);
        const bool particulate = field == "pm2_5" || field == "pm10";
        replace_value(payload, field,
                      particulate ? pick(std::array<std::string_view, 2>{"-5", "1e9"}, rng)
                                  : pick(std::array<std::string_view, 3>{"1e9", "-273.5", "123456"}, rng));
      }
      break;
    case hostile_kind::bad_timestamp:
      replace_value(payload, "ts", pick(std::array<std::string_view, 4>{"\"yesterday\"", "\"2026-11-23 10:00:00\"", "1795430000000", "-1"}, rng));
      break;
    case hostile_kind::bad_seq: replace_value(payload, "seq", pick(std::array<std::string_view, 3>{"-3", "\"12a\"", "1.5"}, rng)); break;
    case hostile_kind::unknown_topic: {
      // commune/<c>/<class>/<device>/<type>: a class nobody knows, or the wrong type for the class.
      const auto third = valid.topic.find('/', valid.topic.find('/') + 1);
      const auto fourth = valid.topic.find('/', third + 1);
      const auto last = valid.topic.rfind('/');
      if (std::uniform_int_distribution<int>(0, 1)(rng) == 0) {
        valid.topic.replace(third + 1, fourth - third - 1, "irrigation");
      } else {
        valid.topic.replace(last + 1, std::string::npos, camera ? "telemetry" : "config");
      }
      break;
    }
    case hostile_kind::binary_garbage: {
      const auto size = std::uniform_int_distribution<std::size_t>(8, 300)(rng);
      payload.assign(size, '\0');
      std::uniform_int_distribution<int> byte(0, 255);
      for (auto& c : payload) c = static_cast<char>(byte(rng));
      payload[0] = static_cast<char>(0xff);  // never valid UTF-8, whatever the rest
      break;
    }
    case hostile_kind::oversized: {
      payload.pop_back();
      payload += ",\"log\":\"";
      payload.append(oversized_bytes, 'A');
      payload += "\"}";
      break;
    }
    case hostile_kind::count_: break;
  }
  return valid;
}

}  // namespace communegw
