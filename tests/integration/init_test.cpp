// `communegw init` end to end: the files it writes work with a real mosquitto
// and a real `communegw check`, and it refuses what it must refuse.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <regex>

#include "tests/support/harness.hpp"

using namespace communegw::test;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> init_args(const temp_dir& dir, std::vector<std::string> extra) {
  std::vector<std::string> args{"--config",
                                (dir / "etc" / "communegw.toml").string(),
                                "init",
                                "--broker-dir",
                                (dir / "broker-conf").string(),
                                "--lan-interface",
                                "lo",
                                "--lang",
                                "en"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

const std::vector<std::string> identity{"--gateway-id", "gw-xa-01", "--province", "ha-giang", "--commune", "xa-01"};

std::map<std::string, std::string> printed_passwords(const std::string& output) {
  std::map<std::string, std::string> passwords;
  const std::regex line(R"(\n  (\S+) +([A-Za-z0-9]{24})(?=\n))");
  for (auto it = std::sregex_iterator(output.begin(), output.end(), line); it != std::sregex_iterator(); ++it) {
    passwords[(*it)[1]] = (*it)[2];
  }
  return passwords;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

unsigned mode_of(const std::filesystem::path& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 0777;
}

}  // namespace

TEST_CASE("init writes a config and broker files that a real mosquitto and `communegw check` accept") {
  temp_dir dir;
  std::filesystem::create_directories(dir / "etc");
  std::filesystem::create_directories(dir / "broker-conf");
  auto args = identity;
  args.insert(args.end(), {"--classes", "streetlight,env", "--central-url", "ssl://central.example.vn:8883",
                           "--central-user", "gw-xa-01", "--central-password", "c3ntral-pw"});
  const auto result = run_communegw(init_args(dir, args), dir.path());
  INFO(result.output);
  REQUIRE(result.status == 0);

  const auto passwords = printed_passwords(result.output);
  REQUIRE(passwords.size() == 3);  // the gateway and the two classes, nothing else
  CHECK(passwords.count("communegw") == 1);
  CHECK(passwords.count("streetlight") == 1);
  CHECK(passwords.count("env") == 1);
  CHECK(passwords.at("streetlight") != passwords.at("env"));
  const auto passwd = read_file(dir / "broker-conf" / "communegw.passwd");
  for (const auto& [user, password] : passwords) {
    CHECK(passwd.find(user + ":$7$101$") != std::string::npos);
    CHECK(passwd.find(password) == std::string::npos);  // stored only as a hash
  }
  CHECK(read_file(dir / "etc" / "mqtt.password") == passwords.at("communegw") + "\n");
  CHECK(mode_of(dir / "etc" / "mqtt.password") == 0600);
  CHECK(mode_of(dir / "broker-conf" / "communegw.passwd") == 0640);
  const auto acl = read_file(dir / "broker-conf" / "communegw.acl");
  CHECK(acl.find("user streetlight\n") != std::string::npos);
  CHECK(acl.find("user camera\n") == std::string::npos);
  const auto config = read_file(dir / "etc" / "communegw.toml");
  CHECK(config.find("id = \"gw-xa-01\"") != std::string::npos);
  // A client id no device account can guess, kept in the config.
  CHECK(std::regex_search(config, std::regex("\nclient_id = \"communegw-gw-xa-01-[0-9a-f]{12}\"\n")));
  CHECK(config.find("username = \"communegw\"") != std::string::npos);
  // The uplink is configured and its password kept in a file of its own.
  CHECK(config.find("[uplink]\n") != std::string::npos);
  CHECK(config.find("enabled = true") != std::string::npos);
  CHECK(config.find("uri = \"ssl://central.example.vn:8883\"") != std::string::npos);
  CHECK(config.find("username = \"gw-xa-01\"") != std::string::npos);
  CHECK(read_file(dir / "etc" / "central.password") == "c3ntral-pw\n");
  CHECK(mode_of(dir / "etc" / "central.password") == 0600);
  CHECK(result.output.find("config  " + (dir / "etc" / "communegw.toml").string()) != std::string::npos);  // check ran

  // The generated broker files, run by mosquitto (ports and the persistence
  // directory are the only changes), accept the printed passwords.
  const int lan_port = free_port();
  chmod(dir.path().c_str(), 0755);
  std::system(("chmod -R a+rX " + (dir / "broker-conf").string()).c_str());
  mosquitto_broker broker(dir / "broker", [&](int port) {
    auto conf = read_file(dir / "broker-conf" / "communegw.conf");
    conf = replace_all(conf, "listener 1883 127.0.0.1\n", "listener " + std::to_string(port) + " 127.0.0.1\n");
    conf = replace_all(conf, "listener 1883\n", "listener " + std::to_string(lan_port) + "\n");
    return "persistence true\npersistence_location " + (dir / "broker").string() + "/\nlog_dest stdout\n" + conf;
  });
  auto local_config = replace_all(config, "tcp://127.0.0.1:1883", broker.uri());
  local_config = replace_all(local_config, "/var/lib/communegw/communegw.db", (dir / "store.db").string());
  write_file(dir / "etc" / "communegw.toml", local_config);
  const auto check = run_communegw({"--config", (dir / "etc" / "communegw.toml").string(), "check"}, dir.path());
  INFO(check.output);
  CHECK(check.output.find("ok    broker  " + broker.uri() + " reachable as communegw") != std::string::npos);

  // A wrong password is refused by the same broker.
  write_file(dir / "etc" / "mqtt.password", "not-the-password\n");
  const auto refused = run_communegw({"--config", (dir / "etc" / "communegw.toml").string(), "check"}, dir.path());
  CHECK(refused.output.find("fail  broker") != std::string::npos);
}

TEST_CASE("init refuses to overwrite without --force, replaces the untouched packaged example, and validates input") {
  temp_dir dir;
  std::filesystem::create_directories(dir / "etc");
  std::filesystem::create_directories(dir / "broker-conf");
  // The packaged example (what the .deb installs) is a placeholder: no --force needed.
  const auto example = run_communegw({"describe", "config"}, dir.path());
  REQUIRE(example.status == 0);
  write_file(dir / "etc" / "communegw.toml", example.output);
  REQUIRE(run_communegw(init_args(dir, identity), dir.path()).status == 0);
  const auto passwd_before = read_file(dir / "broker-conf" / "communegw.passwd");
  const auto config_before = read_file(dir / "etc" / "communegw.toml");

  auto again = run_communegw(init_args(dir, identity), dir.path());
  CHECK(again.status == 2);
  CHECK(again.output.find("already exists; not overwritten (use --force") != std::string::npos);
  CHECK(read_file(dir / "broker-conf" / "communegw.passwd") == passwd_before);
  CHECK(read_file(dir / "etc" / "communegw.toml") == config_before);

  auto vietnamese = init_args(dir, identity);
  vietnamese[8] = "vi";
  CHECK(run_communegw(vietnamese, dir.path()).output.find("đã tồn tại; không ghi đè") != std::string::npos);

  auto forced = identity;
  forced.push_back("--force");
  CHECK(run_communegw(init_args(dir, forced), dir.path()).status == 0);
  CHECK(read_file(dir / "broker-conf" / "communegw.passwd") != passwd_before);  // new passwords

  // Bad input: clear message, exit 2, nothing written.
  temp_dir empty;
  std::filesystem::create_directories(empty / "etc");
  std::filesystem::create_directories(empty / "broker-conf");
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad{
      {{"--province", "p", "--commune", "c"}, "--gateway-id is required"},
      {{"--gateway-id", "gw 1", "--province", "p", "--commune", "c"}, "gateway.id: \"gw 1\" is not an identifier"},
      {{"--gateway-id", "gw", "--province", "p", "--commune", "c", "--classes", "streetlight,lamp"},
       "unknown device class \"lamp\""},
  };
  for (const auto& [args, message] : bad) {
    const auto result = run_communegw(init_args(empty, args), empty.path());
    INFO(result.output);
    CHECK(result.status == 2);
    CHECK(result.output.find(message) != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(empty / "etc" / "communegw.toml"));
    CHECK_FALSE(std::filesystem::exists(empty / "broker-conf" / "communegw.passwd"));
  }
  auto missing_dir = init_args(empty, identity);
  missing_dir[4] = (empty / "no-such-dir").string();
  const auto no_dir = run_communegw(missing_dir, empty.path());
  CHECK(no_dir.status == 2);
  CHECK(no_dir.output.find("does not exist") != std::string::npos);
  CHECK(run_communegw(init_args(empty, {"--lang", "fr"}), empty.path()).status != 0);
}

TEST_CASE("the broker config init writes starts a real mosquitto for a LAN interface and for lo") {
  // A LAN interface of this machine that is up (the listener binds to it;
  // no traffic is sent there).
  std::string lan;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/class/net")) {
    const auto name = entry.path().filename().string();
    if (name != "lo" && read_file(entry.path() / "operstate").rfind("up", 0) == 0) {
      lan = name;
      break;
    }
  }
  if (lan.empty()) FAIL("no network interface other than lo is up on this machine: the LAN case cannot be tested");
  for (const auto& interface : std::vector<std::string>{lan, "lo"}) {
    CAPTURE(interface);
    temp_dir dir;
    std::filesystem::create_directories(dir / "etc");
    std::filesystem::create_directories(dir / "broker-conf");
    auto args = init_args(dir, identity);
    args[6] = interface;
    const auto result = run_communegw(args, dir.path());
    REQUIRE(result.status == 0);
    const auto generated = read_file(dir / "broker-conf" / "communegw.conf");
    const int lan_port = free_port();
    chmod(dir.path().c_str(), 0755);
    std::system(("chmod -R a+rX " + (dir / "broker-conf").string()).c_str());
    if (interface == "lo") {
      // One listener: a second one on lo would take the loopback listener's address.
      CHECK(generated.find("\nbind_interface ") == std::string::npos);
      CHECK(generated.find("\nlistener 1883\n") == std::string::npos);
      CHECK(result.output.find("no LAN listener") != std::string::npos);
    } else {
      CHECK(generated.find("listener 1883\nbind_interface " + interface + "\n") != std::string::npos);
    }
    // Only the ports change (this machine's 1883 may be taken), and where
    // mosquitto keeps its state. It must start (the harness waits for its
    // loopback listener and throws with mosquitto's log if it does not).
    std::unique_ptr<mosquitto_broker> broker;
    REQUIRE_NOTHROW(broker = std::make_unique<mosquitto_broker>(dir / "broker", [&](int port) {
      auto conf = replace_all(generated, "listener 1883 127.0.0.1\n", "listener " + std::to_string(port) + " 127.0.0.1\n");
      conf = replace_all(conf, "listener 1883\n", "listener " + std::to_string(lan_port) + "\n");
      return "persistence true\npersistence_location " + (dir / "broker").string() + "/\nlog_dest stdout\n" + conf;
    }));
  }
}
