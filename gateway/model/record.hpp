#pragma once
// The canonical records every driver produces and the store persists.
// A driver turns (topic, payload) into one decoded_message or one rejection;
// nothing downstream ever sees a device's own format.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "gateway/model/metric_catalogue.hpp"

namespace communegw {

enum class device_kind : std::uint8_t { streetlight, environment, camera, gateway };
std::string_view to_string(device_kind kind);

// Ordered: shedding deletes info/warning events before alarms.
enum class severity : std::uint8_t { info = 0, warning = 1, alarm = 2 };
std::string_view to_string(severity level);
std::optional<severity> parse_severity(std::string_view text);

// A device's own report of whether it is reachable: an MQTT last will, a
// status/availability topic, a LoRaWAN or Sparkplug death certificate.
enum class availability : std::uint8_t { online, offline };
std::string_view to_string(availability state);

struct reading {
  const metric_info* metric = nullptr;  // never null once decoded; points into the catalogue
  double value = 0.0;                   // in the metric's canonical unit
};

struct event {
  std::string kind;  // e.g. lamp_fault, camera_motion, tamper, door_open
  severity level = severity::info;
  std::optional<std::int64_t> start_ms;  // device-reported, Unix ms
  std::optional<std::int64_t> end_ms;
  std::string attributes_json;  // small JSON object, "{}" when empty
  // An incident the device reports several times (a Frigate tracked object:
  // new, update…, end) carries the device's key for it. The store keeps one
  // row per (device, incident): a later report updates that row instead of
  // adding one (docs/storage.md, "Incidents"): the earliest start and latest
  // end are kept, the highest severity, attributes merged (newest value per
  // key, except "score": the highest, and "zones": the union). Empty: a
  // one-off event.
  std::string incident;
  // False while the device says the incident goes on; once true it stays so.
  bool closed = true;
};

// Why an input was refused. Stable names: they are counters, quarantine rows and docs.
enum class reject_reason : std::uint8_t {
  oversized_payload,
  binary_payload,  // not valid UTF-8 text
  malformed_json,
  unknown_topic,  // no driver claims it, or the topic shape is wrong
  missing_field,
  wrong_type,
  out_of_range,
  bad_timestamp,
  unknown_value,       // an enum-like field with a value we do not know
  device_error,        // the device or its bridge marks the values invalid (EPEver CONNECTION != 0)
  codec_error,         // a LoRaWAN network server could not decode the device's payload
  malformed_protobuf,  // a binary payload that is not the protobuf message its topic says (Sparkplug B)
  unknown_alias,       // Sparkplug data naming a metric (alias) no birth certificate seen by this gateway defined
  driver_error,        // a driver failed on this input (a bug in the gateway, not in the device): counted, quarantined
  truncated,           // a payload cut short: a JPEG without its end marker
  simulated,           // a network server's simulated uplink (a console test), not a measurement
  no_value,            // the device sent a word or a sentinel meaning "no value" ("nan", "unavailable", a lost probe's -127)
  count_               // keep last
};
inline constexpr std::size_t reject_reason_count = static_cast<std::size_t>(reject_reason::count_);
std::string_view to_string(reject_reason reason);

// Why a message that was read without fault leaves nothing to store.
// Counted per reason ("ignored.<reason>"), so that every message received is
// accounted for: received = stored + availability only + duplicates +
// rejected + ignored (docs/storage.md, "Counters").
enum class ignore_reason : std::uint8_t {
  ignored_topic,    // a topic the driver does not read by design: commands, logs, acknowledgements, stats
  unmapped_object,  // a device, object or key that the configuration maps to no metric
  driver_state,     // read into the driver's own state: a bridge's device list, a birth certificate, discovery
  superseded,       // a will or state older than one the driver has already seen (a last will delivered late)
  no_readings,      // a device message holding no value the gateway measures (unknown keys only)
  count_            // keep last
};
inline constexpr std::size_t ignore_reason_count = static_cast<std::size_t>(ignore_reason::count_);
std::string_view to_string(ignore_reason reason);

struct rejection {
  reject_reason reason;
  std::string detail;  // human-readable, names the field and the offending value
  // False for payloads that must not be kept even in part: a camera image
  // may show people (the quarantine then holds the topic and size only).
  bool keep_excerpt = true;
};

struct decoded_message {
  std::string device_id;
  device_kind kind = device_kind::environment;
  std::optional<std::int64_t> sequence;        // per-device sequence number, if the device sends one
  std::optional<std::int64_t> device_time_ms;  // device-reported time, Unix ms
  // Inline up to 9 (a streetlight status with every metric): no allocation
  // per message on the ingest path.
  boost::container::small_vector<reading, 9> readings;
  std::vector<event> events;
  // Fields refused individually while the rest of the message was kept
  // (e.g. a PM2.5 of -5 next to a valid temperature).
  std::vector<rejection> field_rejections;
  // Set when the message reports availability (see `availability`); a
  // message may carry only this. The store keeps the latest per device.
  std::optional<availability> reported_availability;
  // A message that reports for several devices (an EPEver2MQTT DATA message
  // holds one block per charge controller) puts the others here, each with
  // its own device id, records and rejections. The store writes each as a
  // message of its own; all share the MQTT message's identity, so a
  // redelivery is dropped whole. Nested lists are not used.
  std::vector<decoded_message> other_devices;
  // What makes a repeat of this message recognisable, when the protocol says
  // it better than the bytes do (message_identity of the device and its frame
  // key: a LoRaWAN uplink is its device, frame counter, port and frame payload,
  // whatever gateway metadata each copy carries). 0: ingest takes the bytes.
  std::uint64_t identity = 0;
  // Set by a driver that leaves a message unused on purpose, saying why (see
  // why_ignored). A message holding nothing without it is no_readings.
  std::optional<ignore_reason> ignored;
};

// A message a driver leaves unused on purpose.
inline decoded_message ignored_message(ignore_reason why) {
  decoded_message out;
  out.ignored = why;
  return out;
}

// Whether an accepted message gives the store nothing at all (no reading,
// event, availability or field rejection, in it or in the other devices it
// reports for), and then why.
std::optional<ignore_reason> why_ignored(const decoded_message& message);

using decode_result = std::variant<decoded_message, rejection>;

}  // namespace communegw
