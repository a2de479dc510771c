#pragma once
// Why a connection to a broker failed, in words an operator can act on.
// Paho reports a failed TCP connection and a failed TLS handshake alike
// (return code -1, no text). This repeats the connection by itself, TCP then
// TLS with the same trust settings as the MQTT client (CA file, client
// certificate, host name check), and names the first step that fails: the
// name does not resolve, the connection is refused or not answered, the
// broker's certificate is not signed by the configured CA, is for another
// host, has expired or is not valid yet, the broker speaks no TLS on that port.
//
// Threading: blocks for up to `timeout` (per step): call it only from a
// thread that may wait on the network (the uplink's own thread, the CLI),
// never from an MQTT callback.

#include <chrono>
#include <string>

#include "gateway/config/config.hpp"

namespace communegw {

// An empty string when TCP and, for ssl://, the TLS handshake both succeed
// (the failure was then in MQTT itself: Paho's CONNACK code says what).
std::string diagnose_connection(const mqtt_settings& settings, std::chrono::milliseconds timeout);

}  // namespace communegw
