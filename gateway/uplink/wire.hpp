#pragma once
// The uplink wire format, version 1 (docs/uplink-protocol.md): one MQTT
// message carries a batch of records of one stream as zstd-compressed JSON,
// on communegw/v1/<province>/<commune>/<gateway>/<stream>.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "gateway/config/config.hpp"
#include "gateway/uplink/outbox.hpp"

namespace communegw {

inline constexpr int uplink_protocol_version = 1;

// communegw/v1/<province>/<commune>/<gateway>/<leaf>; leaf is a stream name or "status".
std::string uplink_topic(const gateway_settings& gateway, std::string_view leaf);

// {"v":1,"gateway":…,"province":…,"commune":…,"stream":…,"sent_ms":…,"records":[{"seq":…,…},…]}, zstd-compressed.
std::string encode_batch(const gateway_settings& gateway, uplink_stream stream, std::span<const outbox_record> records,
                         std::int64_t sent_ms);

// The JSON text of a batch, or an error message. Refuses frames that would
// decompress to more than max_bytes (a zip bomb must not take the centre down).
struct decompressed_batch {
  std::string json;
  std::string error;
};
decompressed_batch decompress_batch(std::string_view payload, std::size_t max_bytes);

}  // namespace communegw
