#pragma once
// Shared rules for reading JSON device payloads with simdjson On-Demand, so
// every driver treats the same input the same way:
//   - absent, null, "nan", "None", "n/a", "" mean *unknown*, never 0;
//   - a number sent as a string is accepted only when the whole string is a number;
//   - anything else of the wrong type is a wrong_type rejection naming the field.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <simdjson.h>

namespace communegw::json_field {

enum class status { ok, unknown, wrong_type };

struct number {
  status state = status::unknown;
  double value = 0.0;
};

number read_number(simdjson::ondemand::value value);

// Like read_number, but also true/false and "on"/"off" (case-insensitive) as 1/0.
number read_switch(simdjson::ondemand::value value);

// A JSON number or a numeric string, parsed whole.
std::optional<double> parse_number_text(std::string_view text);

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

// Copies a payload into a buffer with the tail padding simdjson requires.
// One per driver instance; reused between messages to avoid allocation.
class padded_buffer {
 public:
  simdjson::padded_string_view wrap(std::string_view payload);

 private:
  std::string storage_;
};

}  // namespace communegw::json_field
