#pragma once
// Driver for The Things Stack v3 (The Things Network, TTS Cloud, Enterprise)
// MQTT server (docs/drivers.md#things_stack):
//   v3/<application id>@<tenant id>/devices/<device id>/up    uplink_message: decoded_payload, f_cnt, rx_metadata
//   v3/<application id>@<tenant id>/devices/<device id>/join  accepted, nothing stored
// Every other v3/… message (down/…, service/data, location/solved) is accepted and ignored.

#include "drivers/driver.hpp"

namespace communegw {

extern const driver_descriptor things_stack_driver_descriptor;

std::unique_ptr<driver> make_things_stack_driver(const driver_settings& settings);

}  // namespace communegw
