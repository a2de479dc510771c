#pragma once
// Driver for Tasmota firmware (docs/drivers.md#tasmota), with the default
// FullTopic "%prefix%/%topic%/" or any order set in driver.tasmota.full_topic:
//   tele/<topic>/SENSOR  sensor readings: BME280, SDS0X1, PMS5003, ENERGY, DS18B20, ...
//   tele/<topic>/STATE   relays (POWER, POWER1), Wi-Fi signal, uptime, free heap
//   tele/<topic>/LWT     Online / Offline (the last will) -> availability
// Other tele/ topics (INFO1..3, RESULT, MARGINS...) are ignored.

#include "drivers/driver.hpp"

namespace communegw {

extern const driver_descriptor tasmota_driver_descriptor;

std::unique_ptr<driver> make_tasmota_driver(const driver_settings& settings);

// The check behind driver.tasmota.full_topic: "" when `full_topic` is usable.
std::string check_tasmota_full_topic(std::string_view full_topic);
// The check behind driver.tasmota.time_offset: "" (not used) or "+HH:MM" / "-HH:MM".
std::string check_tasmota_time_offset(std::string_view offset);

}  // namespace communegw
