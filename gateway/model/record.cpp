#include "gateway/model/record.hpp"

#include "gateway/model/received_message.hpp"

#include <array>
#include <bit>

#include "gateway/model/byte_loads.hpp"

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
      "oversized_payload", "binary_payload",     "malformed_json", "unknown_topic", "missing_field",
      "wrong_type",        "out_of_range",       "bad_timestamp",  "unknown_value", "device_error",
      "codec_error",       "malformed_protobuf", "unknown_alias",  "driver_error",
      "truncated",         "simulated",          "no_value"};
  const auto index = static_cast<std::size_t>(reason);
  return index < names.size() ? names[index] : "unknown";
}

std::string_view to_string(ignore_reason reason) {
  static constexpr std::array<std::string_view, ignore_reason_count> names = {"ignored_topic", "unmapped_object",
                                                                              "driver_state", "superseded",
                                                                              "no_readings"};
  const auto index = static_cast<std::size_t>(reason);
  return index < names.size() ? names[index] : "unknown";
}

namespace {

bool holds_something(const decoded_message& message) {
  if (!message.readings.empty() || !message.events.empty() || !message.field_rejections.empty() ||
      message.reported_availability) {
    return true;
  }
  for (const auto& other : message.other_devices) {
    if (holds_something(other)) return true;
  }
  return false;
}

}  // namespace

std::optional<ignore_reason> why_ignored(const decoded_message& message) {
  if (holds_something(message)) return std::nullopt;
  return message.ignored.value_or(ignore_reason::no_readings);
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

std::uint64_t xxh64(std::string_view bytes, std::uint64_t seed) {
  constexpr std::uint64_t prime1 = 0x9e3779b185ebca87ULL;
  constexpr std::uint64_t prime2 = 0xc2b2ae3d27d4eb4fULL;
  constexpr std::uint64_t prime3 = 0x165667b19e3779f9ULL;
  constexpr std::uint64_t prime4 = 0x85ebca77c2b2ae63ULL;
  constexpr std::uint64_t prime5 = 0x27d4eb2f165667c5ULL;
  const auto round = [](std::uint64_t acc, std::uint64_t input) {
    return std::rotl(acc + input * prime2, 31) * prime1;
  };
  const auto merge = [&](std::uint64_t acc, std::uint64_t lane) { return (acc ^ round(0, lane)) * prime1 + prime4; };

  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  std::uint64_t hash;
  if (bytes.size() >= 32) {
    std::uint64_t lane1 = seed + prime1 + prime2;
    std::uint64_t lane2 = seed + prime2;
    std::uint64_t lane3 = seed;
    std::uint64_t lane4 = seed - prime1;
    for (; end - p >= 32; p += 32) {
      lane1 = round(lane1, load_le64(p));
      lane2 = round(lane2, load_le64(p + 8));
      lane3 = round(lane3, load_le64(p + 16));
      lane4 = round(lane4, load_le64(p + 24));
    }
    hash = std::rotl(lane1, 1) + std::rotl(lane2, 7) + std::rotl(lane3, 12) + std::rotl(lane4, 18);
    hash = merge(merge(merge(merge(hash, lane1), lane2), lane3), lane4);
  } else {
    hash = seed + prime5;
  }
  hash += bytes.size();
  for (; end - p >= 8; p += 8) hash = std::rotl(hash ^ round(0, load_le64(p)), 27) * prime1 + prime4;
  if (end - p >= 4) {
    hash = std::rotl(hash ^ (std::uint64_t{load_le32(p)} * prime1), 23) * prime2 + prime3;
    p += 4;
  }
  for (; p != end; ++p) hash = std::rotl(hash ^ (static_cast<unsigned char>(*p) * prime5), 11) * prime1;
  hash ^= hash >> 33;
  hash *= prime2;
  hash ^= hash >> 29;
  hash *= prime3;
  hash ^= hash >> 32;
  return hash;
}

std::uint64_t message_identity(identity_scheme scheme, std::string_view topic, std::string_view payload) {
  std::uint64_t hash = 0;
  switch (scheme) {
    case identity_scheme::fnv1a_64:
      hash = fnv1a(0xcbf29ce484222325ULL, topic);
      hash = fnv1a(hash, std::string_view("\0", 1));  // "a/b" + "c" differs from "a/" + "bc"
      hash = fnv1a(hash, payload);
      break;
    case identity_scheme::xxh64:
      // The topic's hash seeds the payload's: "a/b" + "c" differs from "a/" + "bc".
      hash = xxh64(payload, xxh64(topic, 0));
      break;
  }
  return hash == 0 ? 1 : hash;
}

message_key identify(const decoded_message& message, std::string_view topic, std::string_view payload,
                     identity_scheme scheme) {
  if (message.identity != 0) return {message.identity, true};
  return {message_identity(scheme, topic, payload), message.sequence.has_value() || message.device_time_ms.has_value()};
}

}  // namespace communegw
