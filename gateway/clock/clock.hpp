#pragma once
// Where the gateway gets time. Every stored record carries the wall time it was
// received, plus the boot id and the monotonic time since boot, so that records
// stamped while the wall clock was wrong (a Pi without RTC before NTP sync) can
// be re-stamped later. Components take a `clock&`, so tests inject time.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace communegw {

struct time_stamp {
  std::int64_t wall_ms = 0;       // Unix ms from the system clock
  std::int64_t monotonic_ms = 0;  // CLOCK_BOOTTIME ms: keeps counting across suspend
  bool trusted = false;           // wall clock believed synchronised
};

enum class clock_trust_mode { automatic, always, never };

// Thread-safe: called from the MQTT callback thread and the store writer.
class clock {
 public:
  virtual ~clock() = default;
  virtual time_stamp now() = 0;
  // Identifies this boot of the machine (/proc/sys/kernel/random/boot_id), so
  // monotonic times from different boots are never compared.
  virtual const std::string& boot_id() const = 0;
};

class system_clock final : public clock {
 public:
  // min_trusted_year: a wall clock reading earlier than this is never trusted
  // (an unsynchronised Pi boots into 1970 or into its last fake-hwclock save).
  system_clock(clock_trust_mode mode, int min_trusted_year);
  time_stamp now() override;
  const std::string& boot_id() const override { return boot_id_; }

  // Kernel view of NTP state: true when adjtimex does not report STA_UNSYNC.
  static bool kernel_reports_synchronised();

 private:
  clock_trust_mode mode_;
  std::int64_t min_trusted_wall_ms_;
  std::string boot_id_;
  // The adjtimex answer is cached for a few seconds: it is a syscall, and the
  // ingest path stamps every message.
  std::atomic<std::int64_t> sync_checked_at_ms_{-1'000'000};
  std::atomic<bool> kernel_synchronised_{false};
};

// For tests: time moves only when told to.
class manual_clock final : public clock {
 public:
  explicit manual_clock(std::int64_t wall_ms, bool trusted = true) : now_{wall_ms, 1000, trusted} {}
  time_stamp now() override {
    std::lock_guard lock(mutex_);
    return now_;
  }
  const std::string& boot_id() const override { return boot_id_; }
  void advance_ms(std::int64_t ms) {
    std::lock_guard lock(mutex_);
    now_.wall_ms += ms;
    now_.monotonic_ms += ms;
  }
  void set_trusted(bool trusted) {
    std::lock_guard lock(mutex_);
    now_.trusted = trusted;
  }

 private:
  std::mutex mutex_;
  time_stamp now_;
  std::string boot_id_ = "00000000-0000-0000-0000-000000000000";
};

std::string read_boot_id();

}  // namespace communegw
