// communegw-sim: a commune's worth of devices publishing the native format
// (solar streetlights, environment stations, cameras), for demos, for
// checking a gateway end to end, and for the ingest benchmark (bench/).
// This file only reads the command line; simulation.cpp runs it.
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <random>

#include <CLI/CLI.hpp>

#include "gateway/model/timestamp.hpp"
#include "tools/sim/sim_settings.hpp"
#include "tools/sim/simulation.hpp"

namespace {

using communegw::sim_settings;

// Returns an error message, or empty when the settings hang together.
std::string check_settings(const sim_settings& s) {
  if (s.commune.empty() || s.commune.size() > 64 || s.commune.find_first_of("/+# ") != std::string::npos) {
    return "--commune: 1-64 characters, no '/', '+', '#' or spaces (it is an MQTT topic level)";
  }
  if (s.bench_payload) {
    if (s.env_stations == 0) return "--bench-payload needs --env-stations of at least 1";
    if (s.malformed_ratio > 0) return "--bench-payload sends only valid messages: leave --malformed-ratio at 0";
  } else if (s.streetlights + s.env_stations + s.cameras == 0) {
    return "no devices: give --streetlights, --env-stations or --cameras";
  }
  if (s.broker_uri.rfind("tcp://", 0) != 0 && s.broker_uri.rfind("ssl://", 0) != 0) {
    return "--broker: expected tcp://host:port or ssl://host:port";
  }
  return {};
}

// "must be >= 0" rather than CLI11's range text, whose upper end is DBL_MAX written out.
CLI::Validator at_least(double minimum, bool inclusive) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double value = 0;
        try {
          std::size_t used = 0;
          value = std::stod(text, &used);
          if (used != text.size()) return "\"" + text + "\" is not a number";
        } catch (const std::exception&) {
          return "\"" + text + "\" is not a number";
        }
        if (inclusive ? value >= minimum : value > minimum) return {};
        return (inclusive ? "must be at least " : "must be more than ") + std::to_string(static_cast<long long>(minimum));
      },
      inclusive ? "NUMBER>=0" : "NUMBER>0");
}

std::optional<std::int64_t> parse_start(const std::string& text) {
  if (text == "now") {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
  if (const auto at = communegw::parse_rfc3339_ms(text)) return at;
  try {
    std::size_t used = 0;
    const auto seconds = std::stoll(text, &used);
    if (used == text.size() && seconds >= 0) return seconds * 1000;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  sim_settings settings;
  CLI::App app{"communegw-sim: simulated commune devices publishing the native format over MQTT.\n"
               "Streetlights report every 60 s, environment stations every 30 s, cameras when something moves "
               "(all in simulated time; see --time-scale). Stops at --count or --duration, or on Ctrl-C."};

  app.add_option("--broker", settings.broker_uri, "Broker URI")->capture_default_str();
  app.add_option("--commune", settings.commune, "Commune id: the second topic level")->capture_default_str();
  app.add_option("--streetlights", settings.streetlights, "Solar streetlights")->capture_default_str()->check(CLI::Range(0, 100000));
  app.add_option("--env-stations", settings.env_stations, "Environment stations")->capture_default_str()->check(CLI::Range(0, 100000));
  app.add_option("--cameras", settings.cameras, "Cameras (motion and object events)")->capture_default_str()->check(CLI::Range(0, 100000));
  app.add_option("--duration", settings.duration_s, "Real seconds to run; 0: until --count (or Ctrl-C when --count is 0 too)")
      ->capture_default_str()
      ->check(at_least(0, true));
  double rate = -1;
  app.add_option("--rate", rate,
                 "Total messages per second across all devices, devices taking turns; 0: as fast as the broker "
                 "acknowledges. Default: each device's own realistic period")
      ->check(at_least(0, true));
  app.add_option("--count", settings.count, "Stop after this many messages (hostile ones included); 0: no limit")->capture_default_str();
  app.add_option("--qos", settings.qos, "MQTT QoS of every publish")->capture_default_str()->check(CLI::IsMember({0, 1}));
  app.add_option("--malformed-ratio", settings.malformed_ratio,
                 "Fraction of deliberately bad messages: malformed JSON, wrong types, out-of-range values, unknown "
                 "topics, binary garbage, oversized payloads (96 KiB: the broker's message_size_limit must allow them)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  std::uint64_t seed = 0;
  app.add_option("--seed", seed, "Random seed (default: a random one, printed in the summary)");
  app.add_option("--time-scale", settings.time_scale,
                 "Simulated seconds per real second (1440: a day and a night in one minute)")
      ->capture_default_str()
      ->check(at_least(0, false));
  std::string start = "now";
  app.add_option("--start", start, "Simulated start time: now, RFC 3339 (2026-11-23T17:00:00+07:00) or Unix seconds")
      ->capture_default_str();
  std::int64_t seq_start = -1;
  app.add_option("--seq-start", seq_start,
                 "First \"seq\" of every device. Default: the start time in Unix microseconds, so a later run never "
                 "reuses a sequence number that the gateway would drop as a duplicate")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 52));
  app.add_option("--username", settings.username, "Broker username");
  std::string password_file;
  app.add_option("--password-file", password_file, "File whose first line is the broker password")->check(CLI::ExistingFile);
  app.add_option("--client-id", settings.client_id, "MQTT client id (default: communegw-sim-<commune>-<pid>)");
  app.add_option("--summary-json", settings.summary_json,
                 "Write what was published (per class, per kind of bad message, bytes, expected gateway counters) to this file");
  app.add_flag("--bench-payload", settings.bench_payload,
               "Benchmark traffic: only environment telemetry, 7 valid metrics, --bench-bytes each, distinct seq; "
               "--rate defaults to 0");
  app.add_option("--bench-bytes", settings.bench_bytes, "Payload size in --bench-payload mode")
      ->capture_default_str()
      ->check(CLI::Range(64, 65536));
  app.add_flag("-q,--quiet", settings.quiet, "Print nothing but errors");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help is a ParseError too (exit status 0); every real usage error exits 2.
    return app.exit(error) == 0 ? 0 : 2;
  }

  if (rate >= 0) settings.rate = rate;
  else if (settings.bench_payload) settings.rate = 0.0;
  settings.seed = app.count("--seed") ? seed : std::random_device{}();
  const auto start_ms = parse_start(start);
  if (!start_ms) {
    std::cerr << "--start: \"" << start << "\" is not now, an RFC 3339 time with an offset, or Unix seconds\n";
    return 2;
  }
  settings.start_ms = *start_ms;
  settings.seq_start = seq_start >= 0 ? seq_start
                                      : std::chrono::duration_cast<std::chrono::microseconds>(
                                            std::chrono::system_clock::now().time_since_epoch()).count();
  if (settings.client_id.empty()) settings.client_id = "communegw-sim-" + settings.commune + "-" + std::to_string(::getpid());
  if (!password_file.empty()) {
    std::ifstream in(password_file);
    std::getline(in, settings.password);
    while (!settings.password.empty() && (settings.password.back() == '\r' || settings.password.back() == ' ')) {
      settings.password.pop_back();
    }
    if (settings.password.empty()) {
      std::cerr << "--password-file: " << password_file << " is empty or unreadable\n";
      return 2;
    }
  }
  if (const auto problem = check_settings(settings); !problem.empty()) {
    std::cerr << problem << '\n';
    return 2;
  }
  return communegw::run_simulation(settings);
}
