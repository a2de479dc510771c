#pragma once
// Re-stamping records received while the wall clock was not trusted.
//
// A Pi without an RTC boots into 1970 or into its last fake-hwclock save and
// runs on that until NTP answers, which on rural 4G can take hours. Every
// record keeps the boot id and CLOCK_BOOTTIME next to the wall time, and
// within one boot CLOCK_BOOTTIME was right all along: once the wall clock is
// trusted, the true receive time is mono_ms + (wall - mono, measured now).
// Records of earlier boots cannot be corrected this way and stay marked
// untrusted; nothing is ever dropped or expired because of its time.

#include <cstdint>
#include <string_view>

#include "gateway/store/sqlite.hpp"

namespace communegw {

inline constexpr std::int64_t flag_restamped = 8;  // messages.flags / events.flags

struct restamp_result {
  int status = SQLITE_OK;
  std::int64_t messages = 0;
  std::int64_t events = 0;
};

// Re-stamps untrusted rows of this boot with id above the given positions, up
// to `limit` ids per table, in one transaction; advances the positions.
class restamper {
 public:
  restamper(sqlite::database& db, std::string_view boot_id);
  restamp_result run(std::int64_t wall_minus_mono_ms, std::int64_t limit);
  // This boot's row in `boots`, -1 when the store has none.
  std::int64_t boot_row() const { return boot_row_; }

 private:
  sqlite::database& db_;
  std::int64_t boot_row_ = -1;
  std::int64_t message_position_ = 0;
  std::int64_t event_position_ = 0;
  sqlite::statement messages_, events_;
};

}  // namespace communegw
