#pragma once
// The one list of canonical metrics: name, SI-style unit and the physically
// plausible range. Drivers convert into these units; the store and the uplink
// only ever see these names. docs/metrics.md is generated from this table
// (`communegw describe metrics`) and a test keeps the two equal.

#include <span>
#include <string>
#include <string_view>

namespace communegw {

struct metric_info {
  std::string_view name;
  std::string_view unit;  // "bool" for on/off metrics (value 0 or 1)
  double min;             // inclusive plausible range; outside it a reading is rejected
  double max;
  std::string_view description;
};

std::span<const metric_info> metric_catalogue();
const metric_info* find_metric(std::string_view name);

// Markdown table for docs/metrics.md.
std::string metric_catalogue_markdown();

}  // namespace communegw
