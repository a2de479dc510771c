#pragma once
// Driver for Sparkplug B (Eclipse Sparkplug 3.0) edge nodes and their devices
// (docs/drivers.md#sparkplug). Payloads are protobuf (drivers/sparkplug/
// sparkplug_b.proto, decoded with the protobuf lite runtime):
//   spBv1.0/<group>/NBIRTH/<edge node>            metric definitions (name, alias, datatype, engUnit) + values, bdSeq
//   spBv1.0/<group>/DBIRTH/<edge node>/<device>   the same for one device behind the node
//   spBv1.0/<group>/NDATA|DDATA/…                 values by alias, seq 0 … 255 checked for gaps
//   spBv1.0/<group>/NDEATH/<edge node>            node and its devices offline (unless its bdSeq is stale)
//   spBv1.0/<group>/DDEATH/<edge node>/<device>   the device offline
//   spBv1.0/<group>/NCMD|DCMD/…                   commands to the node: accepted, nothing stored
//   spBv1.0/STATE/<host id>                       JSON {"online":…,"timestamp":…}: the host application's availability
//
// The driver keeps, per instance, what the births said (alias tables, the
// current bdSeq, the last seq of each edge node): data can only be read
// against the birth that defined its aliases.

#include "drivers/driver.hpp"

namespace communegw {

extern const driver_descriptor sparkplug_driver_descriptor;

std::unique_ptr<driver> make_sparkplug_driver(const driver_settings& settings);

}  // namespace communegw
