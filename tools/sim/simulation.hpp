#pragma once
// One simulator run: paces the commune's messages in real time (or as fast as
// the broker takes them), mixes in hostile ones, publishes, and reports what
// was sent, so the result can be checked against the gateway's counters.

#include "tools/sim/sim_settings.hpp"

namespace communegw {

// Runs until --count, --duration or SIGINT/SIGTERM. Returns the exit status:
// 0 when every message was acknowledged, 1 otherwise (reason on stderr).
int run_simulation(const sim_settings& settings);

}  // namespace communegw
