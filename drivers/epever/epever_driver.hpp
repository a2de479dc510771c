#pragma once
// Driver for EPEver solar charge controllers behind the EPEver2MQTT bridge
// (docs/drivers.md#epever). <base> is the bridge's MQTT topic setting, taken
// from the configured filters; each controller on its RS-485 bus is EP_<n>:
//   <base>/DATA                   JSON mode: {"EP_1":{"LiveData":{…},"StatsData":{…},
//                                 "DeviceData":{…}}, …, "Wifi_RSSI":…}
//   <base>/EP_<n>/<Group>/<KEY>   per-value mode: one value per topic
//   <base>/Alive                  true / false (the bridge's last will)
//   <base>/Wifi_RSSI              the bridge's Wi-Fi signal
// Each EP_<n> is a streetlight controller device "<base>/EP_<n>"; LOAD_STATE
// is its lamp. CONNECTION != 0 means the bridge could not read the controller:
// every value of that block is refused (device_error) and the controller is
// reported offline. Battery, charger and load states become lamp_fault events
// on changes only (drivers/fault_tracker.hpp).

#include "drivers/driver.hpp"

namespace communegw {

extern const driver_descriptor epever_driver_descriptor;

std::unique_ptr<driver> make_epever_driver(const driver_settings& settings);

}  // namespace communegw
