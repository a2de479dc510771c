#pragma once
// Capped exponential backoff with jitter, for reconnecting. The jitter keeps a
// fleet of gateways from reconnecting in lock-step after a shared outage.

#include <algorithm>
#include <chrono>
#include <random>

namespace communegw {

class backoff {
 public:
  backoff(std::chrono::milliseconds min, std::chrono::milliseconds max)
      : min_(min), max_(max), current_(min), random_(std::random_device{}()) {}

  // The next delay: the current step ±20 %, then the step doubles up to max.
  std::chrono::milliseconds next() {
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    const auto delay = std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(current_.count()) * jitter(random_)));
    current_ = std::min(current_ * 2, max_);
    return std::clamp(delay, std::chrono::milliseconds(1), max_ + max_ / 5);
  }
  void reset() { current_ = min_; }

 private:
  std::chrono::milliseconds min_, max_, current_;
  std::minstd_rand random_;
};

}  // namespace communegw
