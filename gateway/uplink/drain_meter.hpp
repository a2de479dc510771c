#pragma once
// How fast the uplink empties the outbox, for the "drains in about …" estimate
// of `communegw check` and `query uplink` when uplink.max_rate does not bound it.
//
// Only time when the link was the limit counts: a window of at least `window`
// during which every pump ended with more waiting than it could send (in-flight
// limit, rate limit). An idle link, where the outbox empties faster than it
// fills, says nothing about its capacity; a disconnect or an empty pump ends
// the window unmeasured. Successive measurements are smoothed.

#include <chrono>
#include <cstddef>
#include <optional>

namespace communegw {

class drain_meter {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  explicit drain_meter(std::chrono::milliseconds window = std::chrono::seconds(30)) : window_(window) {}

  // After each pump: `saturated` when it stopped with records still waiting.
  void on_pump(bool saturated, time_point now);
  void on_acknowledged(std::size_t records);
  void on_disconnected();
  // A new smoothed rate (records/s) when a saturated window has just completed.
  std::optional<double> poll(time_point now);

 private:
  std::chrono::milliseconds window_;
  std::optional<time_point> window_start_;
  std::size_t acknowledged_ = 0;
  std::optional<double> rate_;
};

}  // namespace communegw
