#include "gateway/service/service_heartbeat.hpp"

#include <csignal>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "gateway/ingest/ingest_queue.hpp"
#include "gateway/mqtt/broker_subscriber.hpp"
#include "gateway/store/store_writer.hpp"

namespace communegw {

bool stall_detector::healthy(std::chrono::steady_clock::time_point now, std::uint64_t attempts, std::uint64_t waiting) {
  // Idle is not stuck, and any finished attempt is progress.
  if (!started_ || attempts != last_attempts_ || waiting == 0) {
    started_ = true;
    last_attempts_ = attempts;
    last_progress_ = now;
    return true;
  }
  return now - last_progress_ <= limit_;
}

std::chrono::steady_clock::duration stall_detector::stalled_for(std::chrono::steady_clock::time_point now) const {
  return started_ ? now - last_progress_ : std::chrono::steady_clock::duration::zero();
}

service_heartbeat::service_heartbeat(boost::asio::io_context& io, systemd_notifier notifier, probe sample)
    : notifier_(std::move(notifier)),
      sample_(std::move(sample)),
      timer_(io),
      signals_(io),
      stall_(notifier_.watchdog_interval()) {
  if (!notifier_.setup_problem().empty()) spdlog::warn("systemd: {}", notifier_.setup_problem());
  if (!notifier_.enabled()) {
    stopped_ = true;
    return;
  }
  signals_.add(SIGINT);
  signals_.add(SIGTERM);
  signals_.async_wait([this](const boost::system::error_code& ec, int) {
    if (!ec) stopping();
  });
}

service_heartbeat::~service_heartbeat() {
  stopping();
}

void service_heartbeat::ready(const std::string& status) {
  if (stopped_) return;
  report("READY=1", notifier_.ready(status));
  if (notifier_.watchdog_interval().count() > 0) {
    spdlog::info("systemd: watchdog every {} ms; pings stop if the store writer stalls with messages waiting",
                 std::chrono::duration_cast<std::chrono::milliseconds>(notifier_.watchdog_interval()).count());
    tick();  // first ping now: start-up may have used part of the interval
  }
}

void service_heartbeat::stopping() {
  if (stopped_) return;
  stopped_ = true;
  timer_.cancel();
  boost::system::error_code ignored;
  signals_.cancel(ignored);
  report("STOPPING=1", notifier_.stopping("stopping: committing what was received"));
}

void service_heartbeat::schedule_tick() {
  timer_.expires_after(notifier_.watchdog_interval() / 2);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && !stopped_) tick();
  });
}

void service_heartbeat::tick() {
  const auto sample = sample_();
  if (sample.closed) {
    stopping();
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (stall_.healthy(now, sample.attempts, sample.waiting)) {
    if (!pinging_) spdlog::warn("systemd: the store writer is making progress again; watchdog pings resumed");
    pinging_ = true;
    report("WATCHDOG=1", notifier_.watchdog_ping());
    report("STATUS", notifier_.status(sample.status));
  } else {
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(stall_.stalled_for(now)).count();
    if (pinging_) {
      spdlog::critical(
          "systemd: the store writer has finished nothing for {} s with {} messages waiting; "
          "stopping watchdog pings so systemd restarts the gateway (the broker keeps the messages)",
          seconds, sample.waiting);
    }
    pinging_ = false;
    report("STATUS", notifier_.status(fmt::format("STUCK: store writer idle {} s with {} waiting | {}", seconds,
                                                  sample.waiting, sample.status)));
  }
  schedule_tick();
}

void service_heartbeat::report(const char* what, std::error_code ec) {
  // Logged once: a notify socket that went away would otherwise log on every tick.
  if (!ec || send_error_logged_) return;
  send_error_logged_ = true;
  spdlog::warn("systemd: cannot send {} to the notify socket: {}", what, ec.message());
}

service_heartbeat::probe ingest_probe(const ingest_queue& queue, const store_writer& writer,
                                      const broker_subscriber& subscriber) {
  return [&queue, &writer, &subscriber] {
    const auto& out = writer.stats();
    ingest_progress progress;
    progress.attempts =
        out.commits.load(std::memory_order_relaxed) + out.write_failures.load(std::memory_order_relaxed);
    progress.waiting = queue.uncommitted();
    progress.closed = queue.is_closed();
    progress.status = fmt::format(
        "stored {} duplicates {} | waiting {} | mqtt {} | store {}", out.stored.load(std::memory_order_relaxed),
        out.duplicates.load(std::memory_order_relaxed), progress.waiting,
        subscriber.stats().connected ? "connected" : "disconnected", out.store_writable ? "ok" : "NOT WRITABLE");
    return progress;
  };
}

}  // namespace communegw
