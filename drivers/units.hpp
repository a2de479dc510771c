#pragma once
// Unit conversion into the canonical units of gateway/model/metric_catalogue.cpp.
// Devices name their units in many spellings (°C, C, ℃; µg/m³, ug/m3); this is
// the one place that knows them. An unknown unit is never guessed: the caller
// rejects the reading and says which unit it did not know.

#include <optional>
#include <string>
#include <string_view>

#include "gateway/model/metric_catalogue.hpp"

namespace communegw {

// `value` in `unit`, expressed in the metric's canonical unit; nullopt when the
// unit is unknown or does not measure what the metric measures.
std::optional<double> to_canonical_unit(const metric_info& metric, std::string_view unit, double value);

// Zigbee ZCL illuminance MeasuredValue (10000 * log10(lux) + 1) to lux.
double zcl_illuminance_to_lux(double measured_value);

}  // namespace communegw
