#pragma once
// Real components for integration tests: a mosquitto broker on a free
// loopback port, the communegw binary as a child process, a Paho publisher,
// and a read-only view of the store. Tests wait on conditions with deadlines,
// never on fixed sleeps.

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <mqtt/async_client.h>

namespace communegw::test {

// A fresh directory under /tmp, removed with everything in it.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

void write_file(const std::filesystem::path& path, const std::string& text);
std::string read_file(const std::filesystem::path& path);

int free_port();

// Test deadlines scaled for a slower host (emulation): the factor is
// $COMMUNEGW_TEST_TIME_SCALE, else the build's default (1 native, 5 under an
// emulator; tests/CMakeLists.txt). Only the tests' patience is scaled, never
// what a test asserts about the gateway's own behaviour.
std::chrono::milliseconds scaled(std::chrono::milliseconds deadline);
// Waits until `condition` holds, at most scaled(deadline).
bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds deadline);

// The command line that runs one of our own programs (communegw,
// communegw-sim): `argv` itself natively; in a cross build behind the
// emulator, $COMMUNEGW_TEST_EMULATOR if set, else the build's
// (words separated by spaces, e.g. "qemu-aarch64-static -L /sysroot").
// Host tools (mosquitto, openssl) always run as they are.
std::vector<std::string> target_command(std::vector<std::string> argv);

// A child process; stdout and stderr go to `log_file`. Killed (SIGKILL) when destroyed.
class child_process {
 public:
  child_process(const std::vector<std::string>& argv, const std::filesystem::path& log_file);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int signal_number);
  // Exit status (or 128 + signal); nullopt if it did not end in time.
  std::optional<int> wait(std::chrono::milliseconds deadline);

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

class mosquitto_broker {
 public:
  // extra_config: lines appended to a loopback-only, anonymous-allowed config.
  mosquitto_broker(const std::filesystem::path& dir, const std::string& extra_config = "");
  // Full control: make_config(port) returns the whole configuration.
  mosquitto_broker(const std::filesystem::path& dir, const std::function<std::string(int port)>& make_config);
  int port() const { return port_; }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  void stop();     // SIGTERM and wait: persistence is saved
  void restart();  // same port, same config
  void start();

 private:
  std::filesystem::path dir_;
  int port_;
  std::unique_ptr<child_process> process_;
  int starts_ = 0;
};

class gateway_process {
 public:
  // Writes <dir>/gw.toml from `config_toml` (pointed at `broker_uri`) and starts `communegw run`.
  gateway_process(const std::filesystem::path& dir, const std::string& config_toml);
  static std::string default_config(const std::string& broker_uri, const std::filesystem::path& store_path,
                                    const std::string& extra = "");
  void start();
  void kill_hard();  // SIGKILL
  // SIGTERM (or `signal_number`), then its exit status.
  std::optional<int> terminate(std::chrono::milliseconds deadline, int signal_number = SIGTERM);
  bool running() { return process_ && process_->running(); }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  std::filesystem::path config_path() const { return dir_ / "gw.toml"; }
  std::string log() const;

 private:
  std::filesystem::path dir_;
  std::unique_ptr<child_process> process_;
  int starts_ = 0;
};

// Runs `communegw <args...>` to completion; returns exit status and stdout.
struct command_result {
  int status;
  std::string output;
};
command_result run_communegw(const std::vector<std::string>& args, const std::filesystem::path& dir);

// A QoS 1 publisher that waits for each PUBACK.
class publisher {
 public:
  explicit publisher(const std::string& uri, const std::string& client_id = "");
  ~publisher();
  // True once the broker acknowledged it.
  bool publish(const std::string& topic, const std::string& payload, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // The same with the MQTT retain flag: the broker keeps it for later subscribers.
  bool publish_retained(const std::string& topic, const std::string& payload);
  bool reconnect();

 private:
  std::unique_ptr<mqtt::async_client> client_;
};

// Read-only queries against a live store.
std::int64_t store_count(const std::filesystem::path& db, const std::string& sql);
std::map<std::string, std::int64_t> store_counters(const std::filesystem::path& db);

std::filesystem::path communegw_binary();

// Runs a shell command; fails the test if it exits non-zero.
void run_or_fail(const std::string& command);
// <dir>/<name>/{ca.crt,ca.key,server.crt,server.key}: a CA and a server
// certificate for 127.0.0.1/localhost signed by it, made with openssl.
void make_pki(const std::filesystem::path& dir, const std::string& name);

}  // namespace communegw::test
