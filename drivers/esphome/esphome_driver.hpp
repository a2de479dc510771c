#pragma once
// Driver for ESPHome nodes using the MQTT component (docs/drivers.md#esphome).
// <prefix> is the node's topic_prefix (its name by default):
//   <prefix>/sensor/<object_id>/state         plain number ("21.5", "nan")
//   <prefix>/binary_sensor/<object_id>/state  ON / OFF
//   <prefix>/switch/<object_id>/state         ON / OFF
//   <prefix>/light/<object_id>/state          JSON {"state":"ON","brightness":0-255}
//   <prefix>/status                           online / offline (birth and will)
//   homeassistant/<component>/[<node>/]<object_id>/config
//                                             discovery: a state topic's unit and device class
// Units come from discovery, else from driver.esphome.sensors; a reading
// whose unit neither gives is rejected, never guessed.

#include "drivers/driver.hpp"

namespace communegw {

extern const driver_descriptor esphome_driver_descriptor;

std::unique_ptr<driver> make_esphome_driver(const driver_settings& settings);

// The check behind each driver.esphome.sensors item: "" when usable.
std::string check_esphome_sensor_mapping(std::string_view item);

// The check behind driver.esphome.discovery_prefix: "" when usable.
std::string check_esphome_discovery_prefix(std::string_view prefix);

}  // namespace communegw
