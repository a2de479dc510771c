#pragma once
// The service manager's end of the sd_notify protocol, for tests: a bound
// AF_UNIX datagram socket (a path in a fresh directory, or an abstract
// "@name"), closed and removed on destruction. Header-only so unit and
// integration tests can both use it.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace communegw::test {

class notify_listener {
 public:
  explicit notify_listener(bool abstract = false) {
    static std::atomic<int> counter{0};
    const auto unique = std::to_string(::getpid()) + "-" + std::to_string(counter++);
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket(AF_UNIX, SOCK_DGRAM): " + std::string(std::strerror(errno)));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (abstract) {
      name_ = "@communegw-test-" + unique;
    } else {
      dir_ = std::filesystem::temp_directory_path() / ("communegw-notify-" + unique);
      std::filesystem::create_directories(dir_);
      name_ = (dir_ / "notify").string();
    }
    std::memcpy(address.sun_path, name_.data(), name_.size());
    if (abstract) address.sun_path[0] = '\0';
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size());
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&address), length) != 0) {
      const std::string reason = std::strerror(errno);
      ::close(fd_);
      throw std::runtime_error("bind " + name_ + ": " + reason);
    }
  }
  ~notify_listener() {
    ::close(fd_);
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  notify_listener(const notify_listener&) = delete;
  notify_listener& operator=(const notify_listener&) = delete;

  // The value for $NOTIFY_SOCKET.
  const std::string& name() const { return name_; }

  // Every datagram already received, without waiting.
  std::vector<std::string> drain() {
    std::vector<std::string> out;
    char buffer[4096];
    while (true) {
      const auto n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n < 0) break;
      out.emplace_back(buffer, static_cast<std::size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
  std::string name_;
  std::filesystem::path dir_;
};

}  // namespace communegw::test
