#pragma once
// Driver for the commune's own JSON format (docs/native-format.md):
//   commune/<commune>/streetlight/<device>/status
//   commune/<commune>/env/<device>/telemetry
//   commune/<commune>/<streetlight|env|camera>/<device>/event

#include "drivers/driver.hpp"

namespace communegw {

extern const driver_descriptor native_driver_descriptor;

std::unique_ptr<driver> make_native_driver(const driver_settings& settings);

}  // namespace communegw
