#include "drivers/registry.hpp"

#include <array>

#include "drivers/epever/epever_driver.hpp"
#include "drivers/esphome/esphome_driver.hpp"
#include "drivers/frigate/frigate_driver.hpp"
#include "drivers/json_mapping/json_mapping_driver.hpp"
#include "drivers/lorawan/chirpstack_driver.hpp"
#include "drivers/lorawan/things_stack_driver.hpp"
#include "drivers/native/native_driver.hpp"
#include "drivers/sparkplug/sparkplug_driver.hpp"
#include "drivers/tasmota/tasmota_driver.hpp"
#include "drivers/zigbee2mqtt/zigbee2mqtt_driver.hpp"

namespace communegw {
namespace {

// Listed by hand, on purpose: no static-initialiser registration, so the list
// and its order are visible here and nowhere else.
const std::array drivers{
    native_driver_descriptor,
    zigbee2mqtt_driver_descriptor,
    tasmota_driver_descriptor,
    esphome_driver_descriptor,
    frigate_driver_descriptor,
    epever_driver_descriptor,
    chirpstack_driver_descriptor,
    things_stack_driver_descriptor,
    sparkplug_driver_descriptor,
    json_mapping_driver_descriptor,
};

}  // namespace

std::span<const driver_descriptor> driver_registry() { return drivers; }

const driver_descriptor* find_driver(std::string_view name) {
  for (const auto& descriptor : drivers) {
    if (descriptor.name == name) return &descriptor;
  }
  return nullptr;
}

}  // namespace communegw
