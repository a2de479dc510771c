// The sd_notify client and the heartbeat, against a real AF_UNIX datagram
// socket that the test binds, as systemd would.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "gateway/service/service_heartbeat.hpp"
#include "gateway/service/systemd_notifier.hpp"
#include "tests/support/notify_listener.hpp"

using namespace communegw;
using communegw::test::notify_listener;
using namespace std::chrono_literals;

namespace {

// Sets an environment variable for one test case and restores it after.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~scoped_env() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("systemd_notifier sends one datagram per state change to a path socket") {
  notify_listener manager(false);
  systemd_notifier notifier(manager.name(), 10s);
  REQUIRE(notifier.enabled());
  CHECK(notifier.setup_problem().empty());
  CHECK_FALSE(notifier.ready("line one\nline two"));
  CHECK_FALSE(notifier.watchdog_ping());
  CHECK_FALSE(notifier.status("busy"));
  CHECK_FALSE(notifier.stopping("bye"));
  CHECK(manager.drain() == std::vector<std::string>{"READY=1\nSTATUS=line one line two", "WATCHDOG=1", "STATUS=busy",
                                                    "STOPPING=1\nSTATUS=bye"});
}

TEST_CASE("systemd_notifier reaches an abstract socket named with '@'") {
  notify_listener manager(true);
  systemd_notifier notifier(manager.name(), 0us);
  REQUIRE(notifier.enabled());
  CHECK_FALSE(notifier.ready("up"));
  CHECK_FALSE(notifier.watchdog_ping());  // no watchdog configured: nothing sent
  CHECK(manager.drain() == std::vector<std::string>{"READY=1\nSTATUS=up"});
}

TEST_CASE("systemd_notifier is a no-op without a socket, refuses bad names and reports a vanished manager") {
  systemd_notifier none;
  CHECK_FALSE(none.enabled());
  CHECK_FALSE(none.ready("x"));

  systemd_notifier relative("run/notify", 1s);
  CHECK_FALSE(relative.enabled());
  CHECK(relative.setup_problem().find("neither an absolute path") != std::string::npos);

  systemd_notifier too_long("/" + std::string(200, 'x'), 1s);
  CHECK_FALSE(too_long.enabled());
  CHECK(too_long.setup_problem().find("longer than") != std::string::npos);

  systemd_notifier gone("/nonexistent-communegw-dir/notify", 1s);
  REQUIRE(gone.enabled());
  CHECK(gone.ready("x"));  // ENOENT, returned rather than thrown
}

TEST_CASE("systemd_notifier::from_environment reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID") {
  notify_listener manager(false);
  const std::string own_pid = std::to_string(::getpid());
  {
    scoped_env socket("NOTIFY_SOCKET", manager.name().c_str());
    scoped_env usec("WATCHDOG_USEC", "30000000");
    scoped_env pid("WATCHDOG_PID", own_pid.c_str());
    const auto notifier = systemd_notifier::from_environment();
    CHECK(notifier.enabled());
    CHECK(notifier.watchdog_interval() == 30s);
  }
  {
    scoped_env socket("NOTIFY_SOCKET", manager.name().c_str());
    scoped_env usec("WATCHDOG_USEC", "30000000");
    scoped_env pid("WATCHDOG_PID", "1");  // meant for another process
    CHECK(systemd_notifier::from_environment().watchdog_interval() == 0s);
  }
  {
    scoped_env socket("NOTIFY_SOCKET", manager.name().c_str());
    scoped_env usec("WATCHDOG_USEC", "30s");
    scoped_env pid("WATCHDOG_PID", nullptr);
    const auto notifier = systemd_notifier::from_environment();
    CHECK(notifier.enabled());
    CHECK(notifier.watchdog_interval() == 0s);
    CHECK(notifier.setup_problem().find("WATCHDOG_USEC=30s") != std::string::npos);
  }
  {
    scoped_env socket("NOTIFY_SOCKET", nullptr);
    CHECK_FALSE(systemd_notifier::from_environment().enabled());
  }
}

TEST_CASE("stall_detector: idle is healthy, any finished attempt is progress, a backlog without attempts is a stall") {
  const std::chrono::steady_clock::time_point t0{};
  stall_detector detector(10s);
  CHECK(detector.healthy(t0, 5, 0));
  CHECK(detector.healthy(t0 + 60s, 5, 0));  // idle for a minute: fine
  // A backlog appears. Its start is known only to the sampling interval, so
  // the stall is counted from the last sample that saw nothing waiting (60 s).
  CHECK(detector.healthy(t0 + 65s, 5, 3));
  CHECK(detector.healthy(t0 + 70s, 5, 3));        // within the limit
  CHECK_FALSE(detector.healthy(t0 + 71s, 5, 3));  // 11 s without an attempt
  CHECK(detector.stalled_for(t0 + 76s) == 16s);
  CHECK(detector.healthy(t0 + 77s, 6, 3));  // a failed write counts: the writer is alive
  CHECK_FALSE(detector.healthy(t0 + 88s, 6, 1));
  CHECK(detector.healthy(t0 + 89s, 6, 0));  // backlog drained
}

TEST_CASE(
    "service_heartbeat: READY, pings at half the interval, stops pinging on a stall, resumes, STOPPING when ingest "
    "closes") {
  notify_listener manager(false);
  boost::asio::io_context io;
  // Only touched on the io thread (this thread, inside run_for).
  ingest_progress state;
  state.status = "fine";
  service_heartbeat heartbeat(io, systemd_notifier(manager.name(), 200ms), [&] { return state; });
  heartbeat.ready("starting");

  std::vector<std::string> seen;
  auto run_until = [&](auto condition, std::chrono::milliseconds deadline) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < end) {
      io.run_for(20ms);
      for (auto& datagram : manager.drain()) seen.push_back(std::move(datagram));
      if (condition()) return true;
    }
    return false;
  };
  auto count = [&](const std::string& text) { return std::count(seen.begin(), seen.end(), text); };

  REQUIRE(run_until([&] { return count("WATCHDOG=1") >= 3; }, 3s));
  CHECK(seen.front() == "READY=1\nSTATUS=starting");
  CHECK(count("STATUS=fine") >= 3);

  // Messages wait and the writer finishes nothing: pings stop after ~200 ms.
  state.waiting = 7;
  REQUIRE(run_until([&] { return !seen.empty() && seen.back().starts_with("STATUS=STUCK"); }, 3s));
  seen.clear();
  run_until([] { return false; }, 300ms);
  // It keeps saying so; on a loaded machine the next status may take longer than 300 ms.
  run_until([&] { return !seen.empty(); }, 3s);
  CHECK(count("WATCHDOG=1") == 0);
  CHECK_FALSE(seen.empty());

  // One attempt finished: healthy again.
  state.attempts = 1;
  REQUIRE(run_until([&] { return count("WATCHDOG=1") >= 1; }, 3s));

  // Ingest closed (shutdown): STOPPING=1 and the timer ends, so run() returns.
  state.closed = true;
  REQUIRE(run_until([&] { return count("STOPPING=1\nSTATUS=stopping: committing what was received") == 1; }, 3s));
  // No work left: run_for returns because the io_context ran out of work
  // (stopped), not at its deadline. The cancelled signal wait may still
  // complete here when the last 20 ms slice ended before it ran (a slow,
  // emulated CPU), so the number of handlers run is not the measure.
  io.restart();
  io.run_for(2s);
  CHECK(io.stopped());
}
