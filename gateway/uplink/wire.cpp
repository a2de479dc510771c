#include "gateway/uplink/wire.hpp"

#include <zstd.h>

#include <fmt/format.h>

#include "gateway/model/json_text.hpp"

namespace communegw {

std::string uplink_topic(const gateway_settings& gateway, std::string_view leaf) {
  // The ids are validated identifiers (no '/', '+', '#'), so the topic has exactly six levels.
  return fmt::format("communegw/v{}/{}/{}/{}/{}", uplink_protocol_version, gateway.province, gateway.commune, gateway.id,
                     leaf);
}

std::string encode_batch(const gateway_settings& gateway, uplink_stream stream, std::span<const outbox_record> records,
                         std::int64_t sent_ms) {
  std::string json = fmt::format("{{\"v\":{},\"gateway\":", uplink_protocol_version);
  append_json_string(json, gateway.id);
  json += ",\"province\":";
  append_json_string(json, gateway.province);
  json += ",\"commune\":";
  append_json_string(json, gateway.commune);
  json += fmt::format(",\"stream\":\"{}\",\"sent_ms\":{},\"records\":[", to_string(stream), sent_ms);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& body = records[i].body;
    json += fmt::format("{}{{\"seq\":{}", i ? "," : "", records[i].seq);
    // body is a JSON object: splice its members after the seq.
    if (body.size() > 2) json.append(",").append(body, 1, std::string::npos);
    else json += '}';
  }
  json += "]}";

  std::string out(ZSTD_compressBound(json.size()), '\0');
  // Level 3: zstd's default; on a Pi it compresses a 128 KiB batch in about a millisecond.
  const auto size = ZSTD_compress(out.data(), out.size(), json.data(), json.size(), 3);
  if (ZSTD_isError(size)) throw std::runtime_error(fmt::format("zstd: {}", ZSTD_getErrorName(size)));
  out.resize(size);
  return out;
}

decompressed_batch decompress_batch(std::string_view payload, std::size_t max_bytes) {
  const auto size = ZSTD_getFrameContentSize(payload.data(), payload.size());
  if (size == ZSTD_CONTENTSIZE_ERROR) return {{}, "not a zstd frame"};
  if (size == ZSTD_CONTENTSIZE_UNKNOWN) return {{}, "zstd frame without a content size"};
  if (size > max_bytes) return {{}, fmt::format("decompresses to {} bytes, over the {} byte limit", size, max_bytes)};
  std::string json(static_cast<std::size_t>(size), '\0');
  const auto got = ZSTD_decompress(json.data(), json.size(), payload.data(), payload.size());
  if (ZSTD_isError(got)) return {{}, fmt::format("zstd: {}", ZSTD_getErrorName(got))};
  json.resize(got);
  return {std::move(json), {}};
}

}  // namespace communegw
