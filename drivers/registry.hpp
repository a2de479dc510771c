#pragma once
// Every driver the gateway knows, in the order the ingest path tries them.

#include <span>

#include "drivers/driver.hpp"

namespace communegw {

std::span<const driver_descriptor> driver_registry();
const driver_descriptor* find_driver(std::string_view name);

}  // namespace communegw
