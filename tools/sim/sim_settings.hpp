#pragma once
// What one simulator run does, as typed values. sim.cpp fills this from the
// command line (CLI11 stays in that one translation unit: it is the slowest
// header to compile); everything else only reads it.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace communegw {

struct sim_settings {
  // Broker connection.
  std::string broker_uri = "tcp://127.0.0.1:1883";
  std::string client_id;  // empty: "communegw-sim-<commune>-<pid>"
  std::string username;
  std::string password;  // read from --password-file, never from the command line
  int qos = 1;

  // The commune.
  std::string commune = "demo-commune";
  std::size_t streetlights = 20;
  std::size_t env_stations = 4;
  std::size_t cameras = 4;

  // How much and how fast.
  double duration_s = 0;     // real seconds; 0: until `count` (or until interrupted when count is 0 too)
  std::uint64_t count = 0;   // messages, bad ones included; 0: no limit
  // Total messages per second across all devices. Unset: every device keeps
  // its own realistic period in simulated time. 0: as fast as the broker takes them.
  std::optional<double> rate;
  double time_scale = 1.0;   // simulated seconds per real second
  std::int64_t start_ms = 0; // simulated time at the start, Unix ms
  std::uint64_t seed = 0;
  std::int64_t seq_start = 0;  // first "seq" of every device

  // Hostile traffic.
  double malformed_ratio = 0.0;

  // Benchmark mode: only environment telemetry of exactly this many bytes, all valid.
  bool bench_payload = false;
  std::size_t bench_bytes = 200;

  std::string summary_json;  // file to write the run summary to; empty: none
  bool quiet = false;
};

}  // namespace communegw
