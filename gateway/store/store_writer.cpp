#include "gateway/store/store_writer.hpp"

#include <algorithm>
#include <limits>
#include <span>

#include <pthread.h>

#include <spdlog/spdlog.h>

#include "gateway/log/rate_limited_log.hpp"

namespace communegw {
namespace {

constexpr auto idle_wait = std::chrono::milliseconds(500);
constexpr auto maintenance_interval = std::chrono::seconds(5);
constexpr std::uint64_t maintenance_every_messages = 5000;
constexpr auto retry_min = std::chrono::milliseconds(200);
// Short: a failed attempt costs little, and ingest should resume soon after space returns.
constexpr auto retry_max = std::chrono::milliseconds(5'000);
constexpr int attempts_after_close = 5;
// Topic strings kept for reuse (store_writer::spare_topics_) are at most this big.
constexpr std::size_t max_spare_topic_capacity = 256;

// Group commit for backlogs. A commit rewrites a few pages (the table's last
// leaf, interior pages, counters) however many messages it carries. When a
// backlog drains at tens of thousands of messages per second, the writer
// would otherwise keep up with batches of ~4 and write ~3 KB per 200-byte
// message. Above store.gather_above (5,000 msg/s by default) it gathers for
// up to gather_window per commit, or until half of store.max_uncommitted is
// waiting (more would hold the MQTT thread back); below it (every commune's
// normal traffic) each message commits at once. With 10 ms, a 28k msg/s
// drain committed ~170 messages at a time and the ~3 rewritten pages per
// commit made the WAL 1.4x the data (bench/README.md, disk bytes per payload
// byte); 25 ms reaches ~500.
constexpr auto rate_window = std::chrono::milliseconds(100);
// ... or sooner, once this many messages give a rate: a backlog handed over
// at start-up arrives at tens of thousands a second, and until the first
// 100 ms had passed the writer committed it one message at a time (176
// single-message commits in the benchmark's 200k drain, ~12 KiB each).
constexpr std::uint64_t rate_sample = 256;
constexpr auto rate_window_min = std::chrono::milliseconds(1);
constexpr auto gather_window = std::chrono::milliseconds(25);
constexpr auto gather_step = std::chrono::milliseconds(1);
// store.commit_interval applies below this arrival rate: the commune's own
// traffic (tens of messages a second), where committing each message costs a
// 4 KiB page per ~200-byte message. Above it (a backlog draining) commits are
// large anyway and the writer keeps committing continuously, which keeps the
// crash window to a few messages.
constexpr double interval_rate = 500.0;  // messages per second
// ... and only when the rate has stayed below it over this longer window too:
// over 100 ms, bursty traffic of thousands a second often looks slow, and a
// crash while gathering loses what was gathered. Until the first such window
// has passed (after a start) the writer commits continuously.
constexpr auto steady_rate_window = std::chrono::seconds(2);
// How often the low-rate gathering (store.commit_interval) looks at the queue.
constexpr auto commit_gather_step = std::chrono::milliseconds(50);

bool holds_alarm(const decoded_message& message) {
  for (const auto& ev : message.events) {
    if (ev.level == severity::alarm) return true;
  }
  for (const auto& other : message.other_devices) {
    if (holds_alarm(other)) return true;
  }
  return false;
}

bool holds_alarm(std::span<const received_message> items) {
  for (const auto& item : items) {
    if (const auto* message = std::get_if<decoded_message>(&item.result); message && holds_alarm(*message)) return true;
  }
  return false;
}

}  // namespace

store_writer::store_writer(store& target, ingest_queue& queue, ingest& decoder, const store_settings& settings)
    : store_(target), queue_(queue), decoder_(decoder), settings_(settings) {}

store_writer::~store_writer() { stop(); }

void store_writer::start() { thread_ = std::thread([this] { loop(); }); }

void store_writer::stop() {
  queue_.close();
  if (thread_.joinable()) thread_.join();
}

void store_writer::maintain(bool emergency) {
  try {
    const auto report = store_.enforce_limits(emergency);
    const auto deleted = report.messages + report.events + report.alarms + report.quarantine + report.other;
    if (report.released_reserve) spdlog::warn("store: disk full, released the emergency reserve to make room");
    if (deleted > 0) {
      stats_.shed.fetch_add(deleted, std::memory_order_relaxed);
      spdlog::warn("store: over its limits, shed {} messages, {} events, {} alarms, {} quarantine rows, {} aggregate "
                   "and unsent uplink rows (counters shed_*){}",
                   report.messages, report.events, report.alarms, report.quarantine, report.other,
                   report.under_limits ? "" : "; still over the limits");
    }
  } catch (const std::exception& error) {
    // usage() can fail when the disk is unreadable; shedding is retried next time.
    spdlog::error("store: limit check failed: {}", error.what());
  }
}

std::uint64_t store_writer::take(std::vector<received_message>& batch, std::size_t max, std::chrono::milliseconds wait,
                                 bool& closed) {
  const auto last = queue_.pop_batch(arrived_, max, wait, closed);
  for (std::size_t i = 0; i < arrived_.size(); ++i) {
    auto& slot = batch.emplace_back();
    if (!spare_topics_.empty()) {
      slot.topic = std::move(spare_topics_.back());
      spare_topics_.pop_back();
    }
    decoder_.accept(arrived_[i], slot);  // assigns the topic, into the spare's capacity
  }
  return last;
}

void store_writer::loop() {
  pthread_setname_np(pthread_self(), "store-writer");  // top -H, perf, gdb
  // Messages taken from the queue and not yet committed, oldest first, and the
  // queue ticket of the last one. At most store.max_batch: while a write keeps
  // failing nothing more is taken, and the queue's wait rule holds the rest
  // back at the broker.
  std::vector<received_message> batch;
  std::uint64_t batch_last_ticket = 0;
  rate_limited_log failure_log(std::chrono::seconds(30));
  auto retry_delay = retry_min;
  auto last_maintenance = std::chrono::steady_clock::now();
  std::uint64_t since_maintenance = 0;
  int failures_after_close = 0;
  bool closed = false;
  // Arrival rate, measured over rate_window.
  auto rate_window_start = std::chrono::steady_clock::now();
  std::uint64_t rate_window_count = 0;
  double arrival_rate = 0.0;
  auto steady_window_start = rate_window_start;
  std::uint64_t steady_window_count = 0;
  double steady_rate = std::numeric_limits<double>::infinity();
  auto last_commit = std::chrono::steady_clock::now();
  auto last_sync = last_commit;
  std::uint64_t commits_since_sync = 0;

  while (true) {
    if (batch.empty()) {
      batch_last_ticket = take(batch, settings_.max_batch, idle_wait, closed);
      if (batch.empty() && closed) {
        store_.flush_at_shutdown();
        return;
      }
      if (batch.empty()) store_.flush_counters_if_due();  // idle: let counts catch up
      if (arrival_rate >= static_cast<double>(settings_.gather_above)) {
        const auto deadline = std::chrono::steady_clock::now() + gather_window;
        // With max_uncommitted 0 or 1 nothing more can arrive before this
        // commit (the MQTT thread waits for it): enough is 1, no gathering.
        const std::size_t enough = std::min<std::size_t>(settings_.max_batch, std::max<std::size_t>(1, settings_.max_uncommitted / 2));
        while (batch.size() < enough && !closed && std::chrono::steady_clock::now() < deadline) {
          queue_.sleep_unless_closed(gather_step);
          const auto more = take(batch, enough - batch.size(), std::chrono::milliseconds(0), closed);
          if (more != 0) batch_last_ticket = more;
        }
      } else if (!batch.empty() && arrival_rate < interval_rate && steady_rate < interval_rate &&
                 settings_.commit_interval.count() > 0 &&
                 settings_.max_uncommitted > 0) {
        // SD-card wear at commune rates: one commit per commit_interval, not
        // one per message. Never more than half of max_uncommitted waits, so
        // the MQTT thread is not held back by the gathering.
        // An alarm ends the gathering: alarms are rare, and the uplink sends
        // one as soon as it is committed.
        const auto deadline = last_commit + settings_.commit_interval;
        const std::size_t enough = std::min<std::size_t>(settings_.max_batch, std::max<std::size_t>(1, settings_.max_uncommitted / 2));
        bool alarm = holds_alarm(batch);
        while (!alarm && batch.size() < enough && !closed && std::chrono::steady_clock::now() < deadline) {
          const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
          queue_.wait_more_for(std::clamp(left, std::chrono::milliseconds(1), commit_gather_step));
          const auto before = batch.size();
          const auto more = take(batch, enough - batch.size(), std::chrono::milliseconds(0), closed);
          if (more != 0) batch_last_ticket = more;
          alarm = holds_alarm(std::span(batch).subspan(before));
        }
      }
      rate_window_count += batch.size();
      steady_window_count += batch.size();
      const auto now = std::chrono::steady_clock::now();
      if (now - steady_window_start >= steady_rate_window) {
        steady_rate = static_cast<double>(steady_window_count) / std::chrono::duration<double>(now - steady_window_start).count();
        steady_window_start = now;
        steady_window_count = 0;
      }
      const auto rate_elapsed = now - rate_window_start;
      if (rate_elapsed >= rate_window || (rate_window_count >= rate_sample && rate_elapsed >= rate_window_min)) {
        arrival_rate = static_cast<double>(rate_window_count) / std::chrono::duration<double>(rate_elapsed).count();
        rate_window_start = now;
        rate_window_count = 0;
      }
    }
    stats_.pending.store(batch.size(), std::memory_order_relaxed);

    if (!batch.empty()) {
      write_outcome outcome;
      try {
        outcome = store_.write(batch);
      } catch (const std::exception& error) {
        // write() reports I/O as a status; a throw here is unexpected, but it
        // must not end the writer thread and lose what it holds.
        outcome.status = write_status::failed;
        outcome.error = error.what();
      }
      if (outcome.status == write_status::ok) {
        since_maintenance += batch.size();
        for (auto& written : batch) {
          // Bounded by store.max_batch strings of a usual topic's size: a long one goes back to the allocator.
          if (written.topic.capacity() <= max_spare_topic_capacity) spare_topics_.push_back(std::move(written.topic));
        }
        batch.clear();
        stats_.stored.fetch_add(outcome.stored, std::memory_order_relaxed);
        stats_.duplicates.fetch_add(outcome.duplicates, std::memory_order_relaxed);
        stats_.quarantined.fetch_add(outcome.rejected, std::memory_order_relaxed);
        stats_.commits.fetch_add(1, std::memory_order_relaxed);
        queue_.mark_committed(batch_last_ticket);
        last_commit = std::chrono::steady_clock::now();
        ++commits_since_sync;
        if (!stats_.store_writable.exchange(true)) spdlog::info("store: writable again");
        retry_delay = retry_min;
      } else {
        stats_.write_failures.fetch_add(1, std::memory_order_relaxed);
        stats_.store_writable.store(false, std::memory_order_relaxed);
        failure_log.log(spdlog::level::err,
                        "store: {} while committing {} messages: {}; holding them (the broker keeps the rest) and retrying",
                        outcome.status == write_status::full ? "disk full" : "write failed", batch.size(), outcome.error);
        maintain(true);
        if (queue_.is_closed() && ++failures_after_close >= attempts_after_close) {
          stats_.lost_at_shutdown.store(batch.size() + queue_.size(), std::memory_order_relaxed);
          queue_.abandon();
          return;
        }
        queue_.sleep_unless_closed(retry_delay);
        retry_delay = std::min(retry_delay * 2, retry_max);
        continue;
      }
    }

    const auto now = std::chrono::steady_clock::now();
    // Power cuts: with synchronous = normal only a checkpoint fsyncs. One is
    // due when the WAL reaches its size, or sync_interval after the last, so
    // that slow traffic is synced too. Here, after mark_committed: the MQTT
    // thread goes on while the checkpoint's fsyncs take their milliseconds.
    if (store_.checkpoint_if_due()) {
      last_sync = now;
      commits_since_sync = 0;
    } else if (commits_since_sync > 0 && now - last_sync >= settings_.sync_interval) {
      store_.checkpoint();
      last_sync = now;
      commits_since_sync = 0;
    }
    if (since_maintenance >= maintenance_every_messages || now - last_maintenance >= maintenance_interval) {
      maintain(false);
      last_maintenance = now;
      since_maintenance = 0;
    }
  }
}

}  // namespace communegw
