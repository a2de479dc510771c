#pragma once
// Driver for Zigbee2MQTT 1.x and 2.x (docs/drivers.md#zigbee2mqtt):
//   <base>/<friendly_name>               device state, one JSON object
//   <base>/<friendly_name>/availability  online/offline, JSON or bare word
//   <base>/bridge/state                  the bridge itself, JSON or bare word
//   <base>/bridge/devices                retained list: units and device types
//   <base>/bridge/info                   retained: the Zigbee2MQTT version
// Commands (<friendly_name>/set, /get) and other bridge topics are ignored.

#include "drivers/driver.hpp"

namespace communegw {

extern const driver_descriptor zigbee2mqtt_driver_descriptor;

std::unique_ptr<driver> make_zigbee2mqtt_driver(const driver_settings& settings);

}  // namespace communegw
