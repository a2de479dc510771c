#include "tests/support/harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace communegw::test {

temp_dir::temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "communegw-test-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
  // mosquitto started as root drops to its own user: it must reach its files here.
  std::filesystem::permissions(path_, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                          std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                          std::filesystem::perms::others_exec);
}

temp_dir::~temp_dir() {
  // COMMUNEGW_TEST_KEEP=1 keeps the logs and stores of a failed run for reading.
  if (std::getenv("COMMUNEGW_TEST_KEEP")) {
    std::fprintf(stderr, "kept %s\n", path_.c_str());
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

namespace {

bool port_accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

std::chrono::milliseconds scaled(std::chrono::milliseconds deadline) {
  static const double factor = [] {
    const char* text = std::getenv("COMMUNEGW_TEST_TIME_SCALE");
    if (!text || !*text) return static_cast<double>(COMMUNEGW_TEST_TIME_SCALE_DEFAULT);
    char* end = nullptr;
    const double value = std::strtod(text, &end);
    if (*end != '\0' || !(value >= 1.0 && value <= 100.0)) {
      throw std::runtime_error(std::string("COMMUNEGW_TEST_TIME_SCALE must be a number from 1 to 100, not ") + text);
    }
    return value;
  }();
  return std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(deadline.count()) * factor));
}

std::vector<std::string> target_command(std::vector<std::string> argv) {
  const char* emulator = std::getenv("COMMUNEGW_TEST_EMULATOR");
  if (!emulator) emulator = COMMUNEGW_TEST_EMULATOR_DEFAULT;
  if (!*emulator) return argv;
  std::vector<std::string> words;
  std::istringstream in(emulator);
  for (std::string word; in >> word;) words.push_back(word);
  argv.insert(argv.begin(), words.begin(), words.end());
  return argv;
}

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + scaled(deadline);
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

child_process::child_process(const std::vector<std::string>& argv, const std::filesystem::path& log_file) {
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    // No terminal on stdin: commands that prompt when interactive (init) must
    // not wait for a person when a developer runs the tests from a shell.
    const int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    const int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    // execvp: an emulator in front (target_command) is named without a path.
    ::execvp(args[0], args.data());
    // Say why in the log; only async-signal-safe calls between fork and _exit.
    const char* why = ::strerrorname_np(errno);
    for (const char* part : std::initializer_list<const char*>{"exec failed: ", args[0], ": ", why ? why : "?", "\n"}) {
      [[maybe_unused]] const auto written = ::write(2, part, std::strlen(part));
    }
    ::_exit(127);
  }
  if (pid_ < 0) throw std::runtime_error("fork failed");
}

child_process::~child_process() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    wait(std::chrono::seconds(10));
  }
}

bool child_process::running() {
  if (status_) return false;
  int status = 0;
  const pid_t done = ::waitpid(pid_, &status, WNOHANG);
  if (done == pid_) {
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

void child_process::signal(int signal_number) {
  if (running()) ::kill(pid_, signal_number);
}

std::optional<int> child_process::wait(std::chrono::milliseconds deadline) {
  wait_for([&] { return !running(); }, deadline);
  return status_;
}

namespace {

// The broker's own directory: writable by the unprivileged user mosquitto runs as.
void make_broker_dir(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  std::filesystem::permissions(dir, std::filesystem::perms::all);
}

}  // namespace

mosquitto_broker::mosquitto_broker(const std::filesystem::path& dir, const std::string& extra_config)
    : dir_(dir), port_(free_port()) {
  make_broker_dir(dir_);
  write_file(dir_ / "mosquitto.conf",
             "listener " + std::to_string(port_) + " 127.0.0.1\n" +
                 "allow_anonymous true\n"
                 "persistence_location " + dir_.string() + "/\n"
                 "max_queued_messages 0\n"
                 "log_dest stdout\n" +
                 extra_config + "\n");
  start();
}

mosquitto_broker::mosquitto_broker(const std::filesystem::path& dir, const std::function<std::string(int port)>& make_config)
    : dir_(dir), port_(free_port()) {
  make_broker_dir(dir_);
  write_file(dir_ / "mosquitto.conf", make_config(port_));
  start();
}

void mosquitto_broker::start() {
  process_ = std::make_unique<child_process>(
      std::vector<std::string>{"/usr/sbin/mosquitto", "-c", (dir_ / "mosquitto.conf").string()},
      dir_ / ("mosquitto-" + std::to_string(++starts_) + ".log"));
  if (!wait_for([&] { return port_accepts(port_); }, std::chrono::seconds(10))) {
    throw std::runtime_error("mosquitto did not start: " + read_file(dir_ / ("mosquitto-" + std::to_string(starts_) + ".log")));
  }
}

void mosquitto_broker::stop() {
  process_->signal(SIGTERM);
  process_->wait(std::chrono::seconds(10));
}

void mosquitto_broker::restart() {
  stop();
  start();
}

std::filesystem::path communegw_binary() {
  if (const char* override_path = std::getenv("COMMUNEGW_BINARY")) return override_path;
  return COMMUNEGW_BINARY_PATH;
}

gateway_process::gateway_process(const std::filesystem::path& dir, const std::string& config_toml) : dir_(dir) {
  std::filesystem::create_directories(dir_);
  write_file(config_path(), config_toml);
  start();
}

std::string gateway_process::default_config(const std::string& broker_uri, const std::filesystem::path& store_path,
                                            const std::string& extra) {
  // Sections in `extra` replace nothing: keep test-specific keys out of these sections.
  return "[gateway]\nid = \"gw-test\"\nprovince = \"test-province\"\ncommune = \"test-commune\"\n"
         "[mqtt]\nuri = \"" + broker_uri + "\"\nclient_id = \"communegw-gw-test-5f3a91c2e07b\"\n"
         "reconnect_min = \"100ms\"\nreconnect_max = \"1s\"\n" +
         "[store]\npath = \"" + store_path.string() + "\"\n" + extra + "\n";
}

void gateway_process::start() {
  process_ = std::make_unique<child_process>(
      target_command({communegw_binary().string(), "--config", config_path().string(), "run"}),
      dir_ / "gateway.log");
  ++starts_;
}

void gateway_process::kill_hard() {
  process_->signal(SIGKILL);
  process_->wait(std::chrono::seconds(10));
}

std::optional<int> gateway_process::terminate(std::chrono::milliseconds deadline, int signal_number) {
  process_->signal(signal_number);
  return process_->wait(deadline);
}

std::string gateway_process::log() const { return read_file(dir_ / "gateway.log"); }

command_result run_communegw(const std::vector<std::string>& args, const std::filesystem::path& dir) {
  std::vector<std::string> argv{communegw_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto log = dir / "command.out";
  std::filesystem::remove(log);
  child_process process(target_command(argv), log);
  const auto status = process.wait(std::chrono::seconds(60));
  return {status.value_or(-1), read_file(log)};
}

publisher::publisher(const std::string& uri, const std::string& client_id) {
  static std::atomic<int> counter{0};
  const auto id = client_id.empty() ? "test-publisher-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) : client_id;
  client_ = std::make_unique<mqtt::async_client>(uri, id, mqtt::create_options(MQTTVERSION_3_1_1), nullptr);
  reconnect();
}

publisher::~publisher() {
  try {
    if (client_->is_connected()) client_->disconnect()->wait_for(std::chrono::seconds(2));
  } catch (const mqtt::exception&) {
  }
}

bool publisher::reconnect() {
  try {
    mqtt::connect_options options;
    options.set_clean_session(true);
    options.set_connect_timeout(std::chrono::duration_cast<std::chrono::seconds>(scaled(std::chrono::seconds(2))));
    return client_->connect(options)->wait_for(scaled(std::chrono::seconds(3))) && client_->is_connected();
  } catch (const mqtt::exception&) {
    return false;
  }
}

bool publisher::publish(const std::string& topic, const std::string& payload, std::chrono::milliseconds timeout) {
  try {
    if (!client_->is_connected() && !reconnect()) return false;
    auto token = client_->publish(topic, payload.data(), payload.size(), 1, false);
    return token->wait_for(scaled(timeout)) && token->get_return_code() == 0;
  } catch (const mqtt::exception&) {
    return false;
  }
}

bool publisher::publish_retained(const std::string& topic, const std::string& payload) {
  try {
    if (!client_->is_connected() && !reconnect()) return false;
    auto token = client_->publish(topic, payload.data(), payload.size(), 1, true);
    return token->wait_for(scaled(std::chrono::seconds(5))) && token->get_return_code() == 0;
  } catch (const mqtt::exception&) {
    return false;
  }
}

std::int64_t store_count(const std::filesystem::path& db, const std::string& sql) {
  sqlite3* raw = nullptr;
  if (sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(raw);
    return -1;
  }
  sqlite3_busy_timeout(raw, 2000);
  sqlite3_stmt* stmt = nullptr;
  std::int64_t value = -1;
  if (sqlite3_prepare_v2(raw, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
    value = sqlite3_column_int64(stmt, 0);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(raw);
  return value;
}

std::map<std::string, std::int64_t> store_counters(const std::filesystem::path& db) {
  std::map<std::string, std::int64_t> out;
  sqlite3* raw = nullptr;
  if (sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(raw, 2000);
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(raw, "SELECT name, value FROM counters", -1, &stmt, nullptr) == SQLITE_OK) {
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        out[reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))] = sqlite3_column_int64(stmt, 1);
      }
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(raw);
  return out;
}

void run_or_fail(const std::string& command) {
  const int status = std::system((command + " >/dev/null 2>&1").c_str());
  if (status != 0) throw std::runtime_error("command failed: " + command);
}

void make_pki(const std::filesystem::path& dir, const std::string& name) {
  const auto d = dir.string() + "/" + name;
  std::filesystem::create_directories(d);
  run_or_fail("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + name + "-ca -keyout " + d + "/ca.key -out " + d + "/ca.crt");
  run_or_fail("openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout " + d + "/server.key -out " + d + "/server.csr");
  write_file(d + "/san.cnf", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  run_or_fail("openssl x509 -req -in " + d + "/server.csr -CA " + d + "/ca.crt -CAkey " + d + "/ca.key -CAcreateserial -days 2 -extfile " +
              d + "/san.cnf -out " + d + "/server.crt");
}

}  // namespace communegw::test
