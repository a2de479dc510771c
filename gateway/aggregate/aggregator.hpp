#pragma once
// Edge aggregation: folds stored messages (and events) into per-window
// statistics per device and metric: count, sum (so mean), min, max, last.
//
// It reads the durable store, not the live stream: its position in
// `messages` and `events` is a cursor written in the same transaction as the
// statistics, so after a crash or restart every sample is counted exactly
// once. Windows are keyed by the sample's own time (the device's, when it has
// a plausible one), so late and backfilled data lands in the window it belongs
// to; a window already sent upstream is then marked changed and the uplink
// sends a new revision of it (gateway/uplink/outbox.hpp).
//
// Threading: one instance per connection, used from one thread.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "gateway/config/config.hpp"
#include "gateway/store/cursors.hpp"
#include "gateway/store/sqlite.hpp"

namespace communegw {

// Start of the window of `period` holding time `t_ms`, aligned so that
// windows start at local midnight (`utc_offset` east of UTC).
std::int64_t window_start_ms(std::int64_t t_ms, std::chrono::milliseconds period, std::chrono::minutes utc_offset);

struct fold_result {
  int status = SQLITE_OK;   // SQLITE_OK, or the SQLite error that rolled the pass back
  std::size_t messages = 0;  // message rows read
  std::size_t events = 0;
  std::size_t samples = 0;   // readings and events folded, per period
  bool caught_up = true;     // nothing newer was left for the next pass (or what is left waits for the clock)
  bool waiting_for_clock = false;  // stopped before a sample whose receive time is not yet trusted
  std::size_t too_late = 0;  // samples for windows the store has already shed (before the horizon)
};

// What the aggregator needs to know to wait for the wall clock: samples of
// this boot received before the clock was trusted get their true time from
// the restamper (gateway/store/restamp.hpp) once it is, so folding them
// earlier would place them in the wrong windows for good.
struct fold_clock {
  std::int64_t now_ms = 0;       // wall time now (incident timeouts); 0: only closed incidents are due
  std::int64_t boot_row = -1;    // this boot's row in `boots`; -1: nothing waits for the clock
  std::int64_t now_mono_ms = 0;  // CLOCK_BOOTTIME now, the clock of messages.mono_ms
};

class aggregator {
 public:
  // `sent_periods`: periods whose windows the uplink sends; only those get
  // revision bookkeeping in aggregate_windows.
  aggregator(sqlite::database& db, const aggregate_settings& settings,
             std::vector<std::chrono::milliseconds> sent_periods);

  // Folds at most `limit` new message rows and `limit` new event rows in one
  // transaction. It stops before the first row of this boot whose time is
  // still untrusted, unless that row is older than aggregate.clock_wait: then
  // the wall clock may never come, and the samples are folded at their
  // untrusted time (counted in `untrusted`) rather than withheld for ever.
  // An incident (an event the store updates in place) is counted once: when
  // it is closed, or when it was first received at least
  // aggregate.incident_timeout before `clock.now_ms` (0: only closed ones),
  // with the zones it has then.
  fold_result fold(std::int64_t limit, const fold_clock& clock = {});

  static constexpr std::string_view messages_cursor = "aggregate.messages";
  static constexpr std::string_view events_cursor = "aggregate.events";
  // Windows ending at or before this time were shed by the store to save
  // space; samples for them are counted, not folded, so a window is never
  // re-sent with only part of its samples.
  static constexpr std::string_view horizon_cursor = "aggregate.horizon_ms";

 private:
  struct key {
    std::int64_t device, period_s, start_ms;
    std::string metric;
    bool operator<(const key& other) const;
  };
  struct stats {
    std::int64_t count = 0;
    double sum = 0, min = 0, max = 0, last = 0;
    std::int64_t last_ms = 0;
    std::int64_t untrusted = 0;
    void add(double value, std::int64_t t_ms, bool trusted);
  };

  sqlite::database& db_;
  aggregate_settings settings_;
  std::vector<std::chrono::milliseconds> sent_periods_;
  cursors cursors_;
  sqlite::statement read_messages_, read_events_, read_incidents_, mark_folded_, upsert_stats_, mark_window_;
  sqlite::statement first_waiting_message_, first_waiting_event_;
};

}  // namespace communegw
