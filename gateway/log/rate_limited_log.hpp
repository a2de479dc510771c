#pragma once
// A log line that repeats in a fault loop (broker down, disk full) is written
// at most once per interval; the next one says how many were suppressed.
// One instance per call site, owned by the component that logs.

#include <chrono>
#include <mutex>

#include <spdlog/spdlog.h>

namespace communegw {

class rate_limited_log {
 public:
  explicit rate_limited_log(std::chrono::steady_clock::duration interval) : interval_(interval) {}

  template <typename... Args>
  void log(spdlog::level::level_enum level, spdlog::format_string_t<Args...> format, Args&&... args) {
    std::uint64_t suppressed = 0;
    {
      std::lock_guard lock(mutex_);
      const auto now = std::chrono::steady_clock::now();
      if (has_logged_ && now - last_ < interval_) {
        ++suppressed_;
        return;
      }
      has_logged_ = true;
      last_ = now;
      suppressed = suppressed_;
      suppressed_ = 0;
    }
    spdlog::log(level, format, std::forward<Args>(args)...);
    if (suppressed > 0) spdlog::log(level, "(the previous message repeated {} more times)", suppressed);
  }

 private:
  std::chrono::steady_clock::duration interval_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point last_{};
  bool has_logged_ = false;
  std::uint64_t suppressed_ = 0;
};

}  // namespace communegw
