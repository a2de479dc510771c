#pragma once
// Talks to systemd's service manager with the sd_notify protocol: one
// datagram of "KEY=value" lines to the AF_UNIX socket named by $NOTIFY_SOCKET
// (a path, or "@name" for an abstract socket). Implemented here instead of
// linking libsystemd: the protocol is a single sendto(), and the gateway then
// needs no extra library on the Pi.
//
// Thread: any; each call is one non-blocking sendto(). Failure to notify never
// stops the gateway: the calls return an error_code and the caller logs it.
// Without $NOTIFY_SOCKET (started by hand, in tests) every call is a no-op.

#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace communegw {

// Owns one file descriptor; closes it on destruction.
class owned_fd {
 public:
  owned_fd() = default;
  explicit owned_fd(int fd) : fd_(fd) {}
  ~owned_fd();
  owned_fd(owned_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  owned_fd& operator=(owned_fd&& other) noexcept;
  owned_fd(const owned_fd&) = delete;
  owned_fd& operator=(const owned_fd&) = delete;
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

class systemd_notifier {
 public:
  // Disabled: not started by systemd.
  systemd_notifier() = default;
  // `socket`: an absolute path, or "@name" for an abstract socket. `watchdog`:
  // the service's WatchdogSec (0: no watchdog). A bad socket name leaves the
  // notifier disabled with setup_problem() saying why.
  systemd_notifier(std::string_view socket, std::chrono::microseconds watchdog);
  // From $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID. The watchdog applies
  // only if WATCHDOG_PID is unset or names this process (systemd sets it so a
  // forked child does not ping on its parent's behalf).
  static systemd_notifier from_environment();

  bool enabled() const { return static_cast<bool>(fd_); }
  // 0 when systemd expects no watchdog pings.
  std::chrono::microseconds watchdog_interval() const { return watchdog_; }
  // Empty, or why the environment could not be used (e.g. "WATCHDOG_USEC=abc is not a number").
  const std::string& setup_problem() const { return problem_; }

  // Sends `state` ("READY=1\nSTATUS=...") as one datagram.
  std::error_code notify(std::string_view state) const;
  std::error_code ready(std::string_view status) const;
  std::error_code status(std::string_view status) const;
  std::error_code watchdog_ping() const;
  std::error_code stopping(std::string_view status) const;

 private:
  owned_fd fd_;
  sockaddr_un address_{};
  socklen_t address_length_ = 0;
  std::chrono::microseconds watchdog_{0};
  std::string problem_;
};

}  // namespace communegw
