#pragma once
// Shared rules for reading JSON device payloads with simdjson On-Demand, so
// every driver treats the same input the same way:
//   - absent, null, "nan", "None", "n/a", "" mean *unknown*, never 0; the
//     words ("nan", "None", …) are also counted as no_value field rejections;
//   - a number sent as a string is accepted only when the whole string is a number;
//   - anything else of the wrong type is a wrong_type rejection naming the field.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "gateway/model/record.hpp"

namespace communegw::json_field {

enum class status { ok, unknown, wrong_type };

struct number {
  constexpr number(status s = status::unknown, double v = 0.0, bool said = false)  // NOLINT: implicit from {…}
      : state(s), said_no_value(said), value(v) {}
  status state;
  // With `unknown`: the device said so in words ("nan", "unavailable"…)
  // rather than leaving the value out or sending null. Counted (no_value):
  // a sensor that lost its probe must not vanish without a trace. Beside
  // `state`, in its padding: 16 bytes are returned in registers, 24 through
  // memory (~6 instructions more per value read, 7 values per message).
  bool said_no_value;
  double value;
};
static_assert(sizeof(number) == 16);

// For a value read as unknown: a no_value field rejection naming `field` when
// the device said "no value" in words; nothing for null or an empty string.
void count_no_value(const number& read, decoded_message& out, std::string_view field);

number read_number(simdjson::ondemand::value value);

// A device's word for on or off: on/off and true/false in any letter case,
// "1"/"0", and the Vietnamese bật/tắt and mở/đóng; nullopt for anything else.
std::optional<bool> read_on_off_word(std::string_view text);

// Like read_number, but also true/false and the on/off words (read_on_off_word) as 1/0.
number read_switch(simdjson::ondemand::value value);

// A JSON number or a numeric string, parsed whole.
std::optional<double> parse_number_text(std::string_view text);

// Whether a device's text means "no value": empty, nan, none, n/a, null,
// unknown, unavailable (any case). Such a value is unknown, never 0.
bool means_unknown(std::string_view text);

// Integer for sequence numbers and counts: a JSON integer >= 0 (or a float
// with no fractional part), below 2^53.
std::optional<std::int64_t> read_non_negative_integer(simdjson::ondemand::value value);

// Device time: Unix seconds (number, fractions allowed) or an RFC 3339 string
// with an offset. Returns Unix ms.
std::optional<std::int64_t> read_timestamp_ms(simdjson::ondemand::value value);

// After get_object() failed with INCORRECT_TYPE: true when the document is
// valid JSON of another type (array, number, string...), false when it is not
// JSON at all. Tells wrong_type from malformed_json.
bool is_json_non_object(simdjson::ondemand::document& doc);

class padded_buffer;

// Starts reading `payload` as one JSON object: checks UTF-8, parses, checks
// the type. On failure returns the rejection (binary_payload, malformed_json
// or wrong_type) and leaves `object` unusable.
std::optional<rejection> open_object(simdjson::ondemand::parser& parser, padded_buffer& buffer, std::string_view payload,
                                     simdjson::ondemand::document& doc, simdjson::ondemand::object& object);
// The same for a payload that must be a JSON array (Zigbee2MQTT's bridge/devices);
// `what` names it in the wrong_type rejection.
std::optional<rejection> open_array(simdjson::ondemand::parser& parser, padded_buffer& buffer, std::string_view payload,
                                    std::string_view what, simdjson::ondemand::document& doc,
                                    simdjson::ondemand::array& array);

// After the whole object (or array) was read: malformed_json when anything but
// whitespace follows it (On-Demand parses lazily and would not notice).
std::optional<rejection> check_nothing_follows(simdjson::ondemand::document& doc);

// The key and value of one member while iterating an object; a
// malformed_json rejection when the JSON breaks there.
std::optional<rejection> read_member(simdjson::simdjson_result<simdjson::ondemand::field>& member, std::string_view& key,
                                     simdjson::ondemand::value& value);

// The text of a JSON string value, or nullopt for any other type.
std::optional<std::string_view> read_text(simdjson::ondemand::value value);

// A JSON array of strings, each 1 … max_bytes bytes, at most max_items of
// them, duplicates dropped (zone lists, object classes). On a wrong type or
// too many items, the rejection names `field`.
std::optional<rejection> read_text_list(simdjson::ondemand::value value, std::string_view field, std::size_t max_items,
                                        std::size_t max_bytes, std::vector<std::string_view>& items);

// Appends `items` to `out` as a JSON array of strings.
void append_text_list(std::string& out, const std::vector<std::string_view>& items);

// Copies a payload into a buffer with the tail padding simdjson requires.
// One per driver instance; reused between messages to avoid allocation.
class padded_buffer {
 public:
  simdjson::padded_string_view wrap(std::string_view payload);
  void release() { std::string().swap(storage_); }

 private:
  std::string storage_;
};

// Frees a parser's and its buffer's memory (driver::release_memory).
inline void release(simdjson::ondemand::parser& parser, padded_buffer& buffer) {
  parser = simdjson::ondemand::parser{};
  buffer.release();
}

// JSON payloads over this size are refused (oversized_payload) before
// parsing: device JSON is far smaller (a Zigbee2MQTT bridge/devices list of
// 1,000 devices is ~3 MiB), and simdjson needs several times a document's
// size while parsing it, which a Pi must be able to spare.
inline constexpr std::size_t max_json_bytes = 4 * 1024 * 1024;

}  // namespace communegw::json_field
