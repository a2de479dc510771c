#pragma once
// Driver for devices nobody wrote a driver for (docs/drivers.md#json_mapping):
// each [[driver.json_mapping.mapping]] table names a topic pattern with a
// {device} level and how the JSON payload maps to canonical metrics, so a new
// sensor model is onboarded by editing the config, without a rebuild.
//   topic = "sensors/{device}/telemetry"   ('+' levels allowed)
//   [[driver.json_mapping.mapping.field]] pointer → metric, unit, scale, offset, min/max
// The first mapping whose pattern matches a topic decodes it.

#include "drivers/driver.hpp"

namespace communegw {

extern const driver_descriptor json_mapping_driver_descriptor;

std::unique_ptr<driver> make_json_mapping_driver(const driver_settings& settings);

// The check behind each mapping's topic: "" when usable.
std::string check_json_mapping_topic(std::string_view pattern);

}  // namespace communegw
