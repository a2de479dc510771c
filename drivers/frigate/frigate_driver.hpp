#pragma once
// Driver for the Frigate NVR's MQTT messages (docs/drivers.md#frigate). <base>
// is Frigate's mqtt.topic_prefix, taken from the configured filters:
//   <base>/events                     tracked objects: new, update…, end -> one
//                                     camera_object incident per Frigate id
//   <base>/reviews                    review items; alerts -> one camera_alert incident
//   <base>/<camera>/<object>          object count (plain integer) -> object_count
//   <base>/<camera>/<object>/snapshot JPEG -> camera_snapshot event with its size
//                                     and topic (the image is never stored)
//   <base>/available                  online / offline of the Frigate server
// Other Frigate topics (stats, per-camera switches and states) are ignored.

#include "drivers/driver.hpp"

namespace communegw {

extern const driver_descriptor frigate_driver_descriptor;

std::unique_ptr<driver> make_frigate_driver(const driver_settings& settings);

}  // namespace communegw
