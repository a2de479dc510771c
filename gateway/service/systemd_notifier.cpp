#include "gateway/service/systemd_notifier.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

namespace communegw {

owned_fd::~owned_fd() {
  if (fd_ >= 0) ::close(fd_);
}

owned_fd& owned_fd::operator=(owned_fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

namespace {

// STATUS= is one line: a newline would start a new (bogus) key.
std::string one_line(std::string_view text) {
  std::string line(text);
  for (auto& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return line;
}

}  // namespace

systemd_notifier::systemd_notifier(std::string_view socket, std::chrono::microseconds watchdog) {
  if (socket.empty()) return;
  if (socket.front() != '/' && socket.front() != '@') {
    problem_ = "NOTIFY_SOCKET=" + std::string(socket) + " is neither an absolute path nor an abstract name (@...)";
    return;
  }
  // An abstract name may use the whole sun_path (no terminator); a path needs its NUL.
  const std::size_t limit = sizeof(address_.sun_path) - (socket.front() == '/' ? 1 : 0);
  if (socket.size() > limit) {
    problem_ = "NOTIFY_SOCKET=" + std::string(socket) + " is longer than an AF_UNIX address allows";
    return;
  }
  address_.sun_family = AF_UNIX;
  std::memcpy(address_.sun_path, socket.data(), socket.size());
  if (socket.front() == '@') address_.sun_path[0] = '\0';  // abstract namespace
  address_length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket.size());

  owned_fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    problem_ = "cannot create the notification socket: " + std::string(std::strerror(errno));
    return;
  }
  fd_ = std::move(fd);
  watchdog_ = watchdog;
}

systemd_notifier systemd_notifier::from_environment() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  if (socket == nullptr || *socket == '\0') return {};

  std::chrono::microseconds watchdog{0};
  std::string problem;
  const char* usec = std::getenv("WATCHDOG_USEC");
  const char* pid = std::getenv("WATCHDOG_PID");
  bool ours = true;
  if (pid != nullptr && *pid != '\0') {
    long long value = 0;
    const std::string_view text(pid);
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    ours = ec == std::errc() && end == text.data() + text.size() && value == ::getpid();
  }
  if (ours && usec != nullptr && *usec != '\0') {
    unsigned long long value = 0;
    const std::string_view text(usec);
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value == 0) {
      problem = "WATCHDOG_USEC=" + std::string(text) + " is not a positive number of microseconds; watchdog pings off";
    } else {
      watchdog = std::chrono::microseconds(value);
    }
  }
  systemd_notifier notifier(socket, watchdog);
  if (notifier.problem_.empty()) notifier.problem_ = std::move(problem);
  return notifier;
}

std::error_code systemd_notifier::notify(std::string_view state) const {
  if (!fd_) return {};
  const auto sent = ::sendto(fd_.get(), state.data(), state.size(), MSG_NOSIGNAL,
                             reinterpret_cast<const sockaddr*>(&address_), address_length_);
  if (sent < 0) return {errno, std::generic_category()};
  return {};
}

std::error_code systemd_notifier::ready(std::string_view status) const {
  return notify("READY=1\nSTATUS=" + one_line(status));
}

std::error_code systemd_notifier::status(std::string_view status) const {
  return notify("STATUS=" + one_line(status));
}

std::error_code systemd_notifier::watchdog_ping() const {
  if (watchdog_.count() == 0) return {};
  return notify("WATCHDOG=1");
}

std::error_code systemd_notifier::stopping(std::string_view status) const {
  return notify("STOPPING=1\nSTATUS=" + one_line(status));
}

}  // namespace communegw
