#pragma once
// Process-wide Paho C settings. main() applies them before any client exists;
// the benchmark's raw subscriber can apply the same (bench/README.md).
//
// Paho C, as Debian builds it (without HIGH_PERFORMANCE), keeps a trace of
// its own in memory: every function entry and every packet it sends or reads
// becomes an entry in a ring of 400, formatted with vsnprintf under a
// process-wide mutex. Nothing reads that ring unless a trace destination
// (MQTT_C_CLIENT_TRACE) or a trace callback is set. On Paho's receive thread,
// which is what limits how fast a backlog drains, it costs ~26k of the ~62k
// instructions a bare QoS 1 subscriber spends per message (callgrind,
// bench/README.md). Errors only is the level a HIGH_PERFORMANCE build starts
// with. An operator who asks for Paho's trace (MQTT_C_CLIENT_TRACE=ON or a
// file, see Paho's documentation) gets Paho's own settings instead.

#include <cstdlib>

#include <MQTTAsync.h>

namespace communegw::paho {

inline bool trace_requested() {
  const char* destination = std::getenv("MQTT_C_CLIENT_TRACE");
  return destination != nullptr && *destination != '\0';
}

// Paho C 1.3.12 only lets this raise the level up to errors
// (Log_setTraceLevel); tests/integration/paho_process_test.cpp checks that
// protocol entries stop.
inline void configure_process() {
  if (!trace_requested()) MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
}

}  // namespace communegw::paho
