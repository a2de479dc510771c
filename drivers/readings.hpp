#pragma once
// The last step of every driver for one value: a number already in the
// metric's canonical unit becomes a reading when it is physically plausible,
// or a field rejection naming the field, the value and the range when not.

#include <string_view>

#include "gateway/model/record.hpp"

namespace communegw {

// `field` names the value as the device sent it (e.g. "BME280.Temperature").
void add_reading(decoded_message& out, const metric_info& metric, double canonical_value, std::string_view field);

// Shorthand: a field rejection with a formatted detail.
void reject_field(decoded_message& out, reject_reason reason, std::string detail);

}  // namespace communegw
