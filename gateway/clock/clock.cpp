#include "gateway/clock/clock.hpp"

#include <sys/timex.h>
#include <sys/types.h>
#include <time.h>

#include <chrono>
#include <ctime>
#include <fstream>

#include "gateway/model/timestamp.hpp"

namespace communegw {

// Times are Unix seconds/milliseconds everywhere, and the store keeps them for
// years: a 32-bit time_t would wrap in 2038. 32-bit targets (armhf) build with
// -D_TIME_BITS=64 (toolchains/arm-linux-gnueabihf.cmake); this keeps them honest.
static_assert(sizeof(std::time_t) == 8, "64-bit time_t required: build with -D_TIME_BITS=64 -D_FILE_OFFSET_BITS=64");
static_assert(sizeof(off_t) == 8, "64-bit off_t required: build with -D_FILE_OFFSET_BITS=64");

namespace {

std::int64_t monotonic_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

constexpr std::int64_t sync_recheck_ms = 5000;

}  // namespace

std::string read_boot_id() {
  std::ifstream file("/proc/sys/kernel/random/boot_id");
  std::string id;
  if (!(file >> id) || id.empty()) {
    // No procfs (unusual container): every process start counts as a new boot,
    // which is conservative: monotonic times are then never compared across starts.
    id = "unknown-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  return id;
}

bool system_clock::kernel_reports_synchronised() {
  timex tx{};
  tx.modes = 0;  // read-only query
  const int state = ::adjtimex(&tx);
  return state != -1 && state != TIME_ERROR && (tx.status & STA_UNSYNC) == 0;
}

system_clock::system_clock(clock_trust_mode mode, int min_trusted_year)
    : mode_(mode),
      min_trusted_wall_ms_(days_from_civil(min_trusted_year, 1, 1) * 86'400'000),
      boot_id_(read_boot_id()) {}

time_stamp system_clock::now() {
  time_stamp stamp;
  stamp.wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  stamp.monotonic_ms = monotonic_ms();
  switch (mode_) {
    case clock_trust_mode::always: stamp.trusted = true; break;
    case clock_trust_mode::never: stamp.trusted = false; break;
    case clock_trust_mode::automatic: {
      if (stamp.monotonic_ms - sync_checked_at_ms_.load(std::memory_order_relaxed) > sync_recheck_ms) {
        kernel_synchronised_.store(kernel_reports_synchronised(), std::memory_order_relaxed);
        sync_checked_at_ms_.store(stamp.monotonic_ms, std::memory_order_relaxed);
      }
      stamp.trusted = kernel_synchronised_.load(std::memory_order_relaxed) && stamp.wall_ms >= min_trusted_wall_ms_;
      break;
    }
  }
  return stamp;
}

}  // namespace communegw
