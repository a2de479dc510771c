#pragma once
// Driver for the ChirpStack v4 network server's MQTT integration, JSON
// encoding (docs/drivers.md#chirpstack):
//   application/<application id>/device/<devEUI>/event/up      uplink: codec object, fCnt, rxInfo
//   application/<application id>/device/<devEUI>/event/status  battery level, link margin
//   application/<application id>/device/<devEUI>/event/log     UPLINK_CODEC: a codec error
//   application/<application id>/device/<devEUI>/event/join    accepted, nothing stored
// ack, txack, location and integration events are accepted and ignored.

#include "drivers/driver.hpp"

namespace communegw {

extern const driver_descriptor chirpstack_driver_descriptor;

std::unique_ptr<driver> make_chirpstack_driver(const driver_settings& settings);

}  // namespace communegw
