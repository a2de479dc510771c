#pragma once
// The simulated commune: solar streetlights, environment stations and cameras
// whose readings follow the sun, the weather and the daily rhythm of a
// village in northern Vietnam (UTC+7, November: sunrise ~06:00, sunset ~17:30).
//
// Pure model: it turns "device i at simulated time t" into one message in the
// native format (drivers/native/native_driver.cpp). It does no I/O and reads
// no clock, so the same seed and the same times give the same messages.
// Not thread-safe: one publishing loop owns it.

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace communegw {

enum class message_class { streetlight_status, env_telemetry, camera_event };
std::string_view to_string(message_class cls);

struct sim_message {
  std::string topic;
  std::string payload;
  message_class cls = message_class::env_telemetry;
};

struct commune_layout {
  std::string commune;
  std::size_t streetlights = 0;
  std::size_t env_stations = 0;
  std::size_t cameras = 0;
};

class commune_model {
 public:
  // seq_start: the first "seq" of every device; each message a device sends
  // (valid or not) takes the next one, so (device, seq) never repeats in a run.
  commune_model(const commune_layout& layout, std::uint64_t seed, std::int64_t seq_start);
  ~commune_model();
  commune_model(const commune_model&) = delete;
  commune_model& operator=(const commune_model&) = delete;

  std::size_t device_count() const;
  message_class class_of(std::size_t device) const;
  const std::string& device_name(std::size_t device) const;

  // The next message of `device` at simulated time `sim_ms` (Unix ms). Times
  // passed for one device must not go backwards.
  sim_message next(std::size_t device, std::int64_t sim_ms);

  // When `device`, having just sent at `sim_ms`, sends next in its own rhythm:
  // streetlight status every 60 s, environment telemetry every 30 s, camera
  // events at random, more often by day.
  std::int64_t next_due_ms(std::size_t device, std::int64_t sim_ms);

  // A random first report time within the device's period, so devices do not
  // all report in the same second.
  std::int64_t first_due_ms(std::size_t device, std::int64_t sim_ms);

  // Environment telemetry of environment station `station` padded with an
  // ignored "pad" member to exactly `bytes` (never less than the natural size).
  sim_message bench_message(std::size_t station, std::int64_t sim_ms, std::size_t bytes);

  // For hostile messages built from a valid one: a fresh "seq" for `device`.
  std::int64_t take_seq(std::size_t device);

  std::mt19937_64& random() { return rng_; }

 private:
  struct weather;
  struct streetlight;
  struct env_station;
  struct camera;
  struct device_slot;

  sim_message streetlight_status(streetlight& lamp, const std::string& name, std::int64_t sim_ms, std::int64_t seq);
  sim_message env_telemetry(env_station& station, const std::string& name, std::int64_t sim_ms, std::int64_t seq);
  sim_message camera_event(camera& cam, const std::string& name, std::int64_t sim_ms, std::int64_t seq);

  std::string commune_;
  std::mt19937_64 rng_;
  std::unique_ptr<weather> weather_;
  std::vector<device_slot> devices_;
  std::vector<std::size_t> station_slots_;  // environment station i -> its index in devices_
  std::vector<std::unique_ptr<streetlight>> streetlights_;
  std::vector<std::unique_ptr<env_station>> stations_;
  std::vector<std::unique_ptr<camera>> cameras_;
};

}  // namespace communegw
