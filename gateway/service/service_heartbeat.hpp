#pragma once
// Keeps systemd informed about `communegw run`: READY=1 once the store is
// open and the MQTT client started, a STATUS= line on every watchdog tick,
// WATCHDOG=1 pings at half of WatchdogSec, STOPPING=1 on SIGTERM/SIGINT.
//
// The pings stop when ingest is stuck: messages are waiting to be committed
// and the store writer has finished no attempt (neither a commit nor a failed
// write) for longer than WatchdogSec. systemd then kills and restarts the
// gateway; the broker still holds every unacknowledged message in our
// persistent session. A store that keeps failing (disk full) is *not* stuck:
// the writer retries every few seconds and sheds old data, and a restart
// would not help, so it stays visible in STATUS= and the logs instead.
//
// Thread: everything runs on the io_context's thread (the main thread).

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gateway/service/systemd_notifier.hpp"

namespace communegw {

class broker_subscriber;
class ingest_queue;
class store_writer;

// One look at the ingest path.
struct ingest_progress {
  std::uint64_t attempts = 0;  // grows whenever the store writer finishes a commit or a failed write
  std::uint64_t waiting = 0;   // received, not yet committed
  bool closed = false;         // ingest has stopped (shutdown under way)
  std::string status;          // one line for STATUS=
};

// Pure decision: is the writer stuck? Healthy while nothing waits or the
// attempt count moved within `limit`. Takes the time as an argument so tests
// need no clock.
class stall_detector {
 public:
  explicit stall_detector(std::chrono::steady_clock::duration limit) : limit_(limit) {}
  bool healthy(std::chrono::steady_clock::time_point now, std::uint64_t attempts, std::uint64_t waiting);
  // How long the writer has been without progress while messages waited (0 when healthy-idle).
  std::chrono::steady_clock::duration stalled_for(std::chrono::steady_clock::time_point now) const;

 private:
  std::chrono::steady_clock::duration limit_;
  std::uint64_t last_attempts_ = 0;
  std::chrono::steady_clock::time_point last_progress_{};
  bool started_ = false;
};

class service_heartbeat {
 public:
  using probe = std::function<ingest_progress()>;

  // Does nothing at all (no timer, no signal handler) when `notifier` is disabled.
  // It registers its own SIGINT/SIGTERM handler next to the caller's (Asio
  // calls every signal_set) to send STOPPING=1 without the caller's help.
  service_heartbeat(boost::asio::io_context& io, systemd_notifier notifier, probe sample);
  ~service_heartbeat();
  service_heartbeat(const service_heartbeat&) = delete;
  service_heartbeat& operator=(const service_heartbeat&) = delete;

  // READY=1 and the first STATUS=; starts the watchdog pings.
  void ready(const std::string& status);
  // STOPPING=1; no more pings. Idempotent; also called on SIGINT/SIGTERM and
  // when the probe reports ingest closed, so the io_context can run out of work.
  void stopping();

 private:
  void schedule_tick();
  void tick();
  void report(const char* what, std::error_code ec);

  systemd_notifier notifier_;
  probe sample_;
  boost::asio::steady_timer timer_;
  boost::asio::signal_set signals_;
  stall_detector stall_;
  bool pinging_ = true;
  bool stopped_ = false;
  bool send_error_logged_ = false;
};

// The probe `communegw run` uses: the queue's backlog, the writer's attempts, the broker session.
service_heartbeat::probe ingest_probe(const ingest_queue& queue, const store_writer& writer,
                                      const broker_subscriber& subscriber);

}  // namespace communegw
