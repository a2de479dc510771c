#include "drivers/readings.hpp"

#include <fmt/format.h>

namespace communegw {

void add_reading(decoded_message& out, const metric_info& metric, double canonical_value, std::string_view field) {
  if (!(canonical_value >= metric.min && canonical_value <= metric.max)) {
    reject_field(out, reject_reason::out_of_range,
                 fmt::format("\"{}\" = {} {} is outside {} … {} {}", field, canonical_value, metric.unit, metric.min,
                             metric.max, metric.unit));
    return;
  }
  out.readings.push_back({&metric, canonical_value + 0.0});  // + 0.0: a "-0" is stored as 0
}

void reject_field(decoded_message& out, reject_reason reason, std::string detail) {
  out.field_rejections.push_back({reason, std::move(detail)});
}

}  // namespace communegw
