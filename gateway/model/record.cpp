#include "gateway/model/record.hpp"

#include "gateway/model/received_message.hpp"

#include <array>

namespace communegw {

std::string_view to_string(device_kind kind) {
  switch (kind) {
    case device_kind::streetlight: return "streetlight";
    case device_kind::environment: return "environment";
    case device_kind::camera: return "camera";
    case device_kind::gateway: return "gateway";
  }
  return "unknown";
}

std::string_view to_string(availability state) {
  return state == availability::online ? "online" : "offline";
}

std::string_view to_string(severity level) {
  switch (level) {
    case severity::info: return "info";
    case severity::warning: return "warning";
    case severity::alarm: return "alarm";
  }
  return "unknown";
}

std::optional<severity> parse_severity(std::string_view text) {
  if (text == "info") return severity::info;
  if (text == "warning") return severity::warning;
  if (text == "alarm") return severity::alarm;
  return std::nullopt;
}

std::string_view to_string(reject_reason reason) {
  static constexpr std::array<std::string_view, reject_reason_count> names = {
      "oversized_payload", "binary_payload", "malformed_json", "unknown_topic", "missing_field",
      "wrong_type",        "out_of_range",   "bad_timestamp",  "unknown_value", "device_error",
      "codec_error",       "malformed_protobuf", "unknown_alias"};
  const auto index = static_cast<std::size_t>(reason);
  return index < names.size() ? names[index] : "unknown";
}

}  // namespace communegw

namespace communegw {

std::uint64_t message_identity(std::string_view topic, std::string_view payload) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  auto feed = [&](std::string_view bytes) {
    for (const char c : bytes) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 0x100000001b3ULL;
    }
  };
  feed(topic);
  feed(std::string_view("\0", 1));  // "a/b" + "c" differs from "a/" + "bc"
  feed(payload);
  return hash == 0 ? 1 : hash;
}

message_key identify(const decoded_message& message, std::string_view topic, std::string_view payload) {
  if (message.identity != 0) return {message.identity, true};
  return {message_identity(topic, payload), message.sequence.has_value() || message.device_time_ms.has_value()};
}

}  // namespace communegw
