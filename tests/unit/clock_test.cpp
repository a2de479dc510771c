#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <string>

#include "gateway/clock/clock.hpp"

using namespace communegw;

namespace {

std::int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TEST_CASE("the system clock stamps wall time, boot time and this boot's id, and says when to trust the wall time") {
  system_clock automatic(clock_trust_mode::automatic, 2025);
  const auto before = system_now_ms();
  const auto first = automatic.now();
  const auto second = automatic.now();
  CHECK(first.wall_ms >= before);
  CHECK(first.wall_ms <= system_now_ms());
  CHECK(second.monotonic_ms >= first.monotonic_ms);
  std::ifstream boot_id_file("/proc/sys/kernel/random/boot_id");
  std::string boot_id;
  if (boot_id_file >> boot_id) CHECK(automatic.boot_id() == boot_id);
  CHECK_FALSE(automatic.boot_id().empty());

  // auto: trusted exactly when the kernel reports NTP sync and the year is plausible.
  CHECK(first.trusted == system_clock::kernel_reports_synchronised());
  // A wall clock before clock.min_year is never trusted, synchronised or not
  // (a Pi without RTC starts in 1970, or at its last saved time).
  system_clock far_future_minimum(clock_trust_mode::automatic, 3000);
  CHECK_FALSE(far_future_minimum.now().trusted);
  // The operator's override either way.
  CHECK(system_clock(clock_trust_mode::always, 3000).now().trusted);
  CHECK_FALSE(system_clock(clock_trust_mode::never, 2000).now().trusted);
}
