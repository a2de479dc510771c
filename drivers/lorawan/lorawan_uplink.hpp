#pragma once
// What the LoRaWAN network-server drivers (chirpstack, things_stack) share:
// their options (device kind, the codec-output mapping), the radio metadata of
// the best gateway, and what identifies one uplink frame.
//
// Both servers already merge the copies of one frame heard by several
// gateways into one message. A frame can still arrive twice (an MQTT
// redelivery, the integration re-publishing after a restart with new
// metadata), so a frame's identity is its device, frame counter, port and
// frame payload, never the gateway metadata around it.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include <simdjson.h>

#include "drivers/driver.hpp"
#include "drivers/field_mapping.hpp"
#include "drivers/json_field.hpp"

namespace communegw {

// device_kind, codec_mapping, field: the options of both LoRaWAN drivers.
extern const std::array<driver_option, 3> lorawan_options;

struct lorawan_settings {
  device_kind kind = device_kind::environment;
  field_mapping fields;  // the codec's decoded object → metrics
};
lorawan_settings read_lorawan_settings(const driver_settings& settings);

// The strongest copy of an uplink: the gateway with the best SNR (RSSI breaks
// ties, and decides alone where no gateway reports an SNR).
class best_gateway {
 public:
  // Reads one array of per-gateway metadata objects (ChirpStack rxInfo, The
  // Things Stack rx_metadata; both name them rssi and snr). Broken JSON is a
  // message rejection; a value of the wrong type a field rejection.
  std::optional<rejection> read(simdjson::ondemand::value gateways, decoded_message& out);
  // The rssi and snr readings of the best gateway, when any reported them.
  void add_readings(decoded_message& out) const;

 private:
  std::optional<double> rssi_, snr_;
};

// What both servers say about one uplink frame, gathered while the members of
// the uplink are read in whatever order they come.
struct uplink_frame {
  std::int64_t counter = 0, port = 0;  // left out of the JSON when 0
  std::string_view payload;            // the frame payload (base64) as sent
  bool decoded = false;                // the codec's output was there, whatever it held
  best_gateway best;

  // fCnt/f_cnt (`is_counter`) or fPort/f_port. The counter is what tells a
  // repeat from a new frame: one that cannot be read refuses the message.
  std::optional<rejection> read_number(std::string_view key, simdjson::ondemand::value value, bool is_counter);
  // The codec's output through the mapping; not an object: a field rejection.
  std::optional<rejection> read_decoded(std::string_view key, simdjson::ondemand::value value, const field_mapping& fields,
                                        decoded_message& out);
  // The same for ChirpStack v3's objectJSON: the codec's output as a string
  // holding JSON, parsed with its own parser (the message's document is
  // still being read). Whatever is wrong inside it is a field rejection: the
  // frame's radio metadata still counts.
  std::optional<rejection> read_decoded_text(std::string_view key, simdjson::ondemand::value value,
                                             const field_mapping& fields, decoded_message& out,
                                             simdjson::ondemand::parser& parser, json_field::padded_buffer& buffer);
  // After the last member: a frame payload nobody decoded (`missing`, the
  // detail), the best gateway's readings, sequence and identity.
  void finish(decoded_message& out, std::string_view missing) const;
};

// A network server's RFC 3339 time ("2026-11-23T11:05:00.123456789Z") as the
// message's device time; anything else is a bad_timestamp field rejection.
void read_network_time(simdjson::ondemand::value value, decoded_message& out, std::string_view name);

// What both servers say about a join (or rejoin): the device started a new
// session. Not taken as "online": LoRaWAN has no "gone" message, so such an
// availability could never be withdrawn.
struct join_report {
  std::string dev_addr;  // the address the device was given, when valid

  // devAddr / end_device_ids.dev_addr (`name`): kept when it is 8 hex digits,
  // else a wrong_type field rejection.
  void read_dev_addr(simdjson::ondemand::value value, decoded_message& out, std::string_view name);
  // The event "lorawan_join" (info) at the message's device time, with
  // {"dev_addr": …} when known.
  void finish(decoded_message& out) const;
};

// Identity of one uplink frame (see above).
std::uint64_t frame_identity(std::string_view device_id, std::int64_t frame_counter, std::int64_t port,
                             std::string_view frame_payload);

// Frame counters are 32-bit; a larger one is not a LoRaWAN counter.
inline constexpr std::int64_t max_frame_counter = 0xFFFFFFFFLL;

}  // namespace communegw
