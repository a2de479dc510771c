// `communegw init`: the guided set-up an on-site IT person runs once after
// installing the package. It writes, in this order and only after every input
// has been validated:
//   1. the broker files (conf.d snippet, password file, ACL) with a fresh
//      random password per account, printed once;
//   2. the gateway config, from the documented example with the commune's
//      identifiers and the gateway's broker login filled in, and the file
//      holding the gateway's broker password;
// then runs the same checks as `communegw check`. Existing files are never
// overwritten without --force (the untouched packaged example excepted).
#include <grp.h>
#include <pwd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>
#include <openssl/evp.h>

#include "gateway/broker/broker_accounts.hpp"
#include "gateway/cli/commands.hpp"
#include "gateway/cli/init_text.hpp"

namespace communegw {
namespace {

namespace fs = std::filesystem;

class init_failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bytes from the kernel CSPRNG. getrandom() blocks only before the pool is
// initialised at early boot, which init never runs in.
void random_bytes(unsigned char* out, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const auto n = ::getrandom(out + done, size - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw init_failure(fmt::format("getrandom: {}", std::strerror(errno)));
    }
    done += static_cast<std::size_t>(n);
  }
}

// 24 characters from [A-Za-z0-9] (~143 bits): no ':' (the password file's
// separator), nothing a shell or a device's web form would mangle.
std::string random_password() {
  static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string password;
  while (password.size() < 24) {
    unsigned char byte = 0;
    random_bytes(&byte, 1);
    if (byte >= 248) continue;  // 248 = 4 x 62: rejection keeps every character equally likely
    password += alphabet[byte % alphabet.size()];
  }
  return password;
}

// The gateway's MQTT client id: its id and 12 random hex digits. Whoever
// connects with a client id takes over that session (and what the broker
// queued for it): the default "communegw-<id>" can be guessed by any device
// account, this cannot. It is written into the config, so it stays the same
// across restarts and the persistent session is kept.
std::string random_client_id(std::string_view gateway_id) {
  unsigned char bytes[6];
  random_bytes(bytes, sizeof bytes);
  std::string id = fmt::format("communegw-{}-", gateway_id);
  for (const auto byte : bytes) id += fmt::format("{:02x}", byte);
  return id;
}

std::string base64(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// One line of a mosquitto 2.0 password file, as `mosquitto_passwd` writes it:
// user:$7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512>.
std::string mosquitto_password_line(std::string_view user, const std::string& password) {
  constexpr int iterations = 101;  // mosquitto_passwd's default
  std::array<unsigned char, 12> salt{};
  random_bytes(salt.data(), salt.size());
  std::array<unsigned char, 64> hash{};
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(), static_cast<int>(salt.size()),
                        iterations, EVP_sha512(), static_cast<int>(hash.size()), hash.data()) != 1) {
    throw init_failure("PBKDF2 failed (OpenSSL)");
  }
  return fmt::format("{}:$7${}${}${}\n", user, iterations, base64(salt.data(), salt.size()),
                     base64(hash.data(), hash.size()));
}

// Sets `key = value` in `[section]` of the generated example, keeping its comments.
void set_key(std::string& text, std::string_view section, std::string_view key, const std::string& value) {
  const auto header = text.find(fmt::format("\n[{}]\n", section));
  if (header == std::string::npos) throw init_failure(fmt::format("example config has no [{}]", section));
  const auto end = text.find("\n[", header + 1);
  const auto line = text.find(fmt::format("\n{} = ", key), header);
  if (line == std::string::npos || (end != std::string::npos && line > end)) {
    throw init_failure(fmt::format("example config has no {}.{}", section, key));
  }
  const auto eol = text.find('\n', line + 1);
  text.replace(line + 1, eol - line - 1, fmt::format("{} = {}", key, value));
}

std::string toml_string(const std::string& value) {
  std::string out = "\"";
  for (const char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

void replace_once(std::string& text, std::string_view from, const std::string& to) {
  const auto at = text.find(from);
  if (at == std::string::npos) throw init_failure(fmt::format("broker template lacks \"{}\"", from));
  text.replace(at, from.size(), to);
}

// Written to a temporary name and renamed: a crash never leaves half a file.
void write_file_atomically(const fs::path& path, const std::string& text, mode_t mode) {
  const auto temporary = fs::path(path.string() + ".communegw-init");
  {
    std::ofstream out(temporary, std::ios::trunc);
    if (!out) throw init_failure(fmt::format("{}: cannot write: {}", temporary.string(), std::strerror(errno)));
    out << text;
    out.flush();
    if (!out) throw init_failure(fmt::format("{}: write failed", temporary.string()));
  }
  if (::chmod(temporary.c_str(), mode) != 0) {
    throw init_failure(fmt::format("{}: chmod: {}", temporary.string(), std::strerror(errno)));
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) throw init_failure(fmt::format("{}: {}", path.string(), ec.message()));
}

// Group ownership so a service user can read a 0640 secret; only when root
// and the group exists (tests and non-packaged installs skip it).
void give_group(const fs::path& path, const char* group_name) {
  if (::geteuid() != 0) return;
  if (const group* g = ::getgrnam(group_name)) {
    if (::chown(path.c_str(), 0, g->gr_gid) != 0) {
      throw init_failure(fmt::format("{}: chown root:{}: {}", path.string(), group_name, std::strerror(errno)));
    }
  }
}

// A secret the service reads: owned by its user, 0600 (the config loader
// warns about anything more open). Only when root and the user exists.
void give_user(const fs::path& path, const char* user_name) {
  if (::geteuid() != 0) return;
  if (const passwd* u = ::getpwnam(user_name)) {
    if (::chown(path.c_str(), u->pw_uid, u->pw_gid) != 0) {
      throw init_failure(fmt::format("{}: chown {}: {}", path.string(), user_name, std::strerror(errno)));
    }
  }
}

std::string read_whole(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

int init_gateway(init_options options) {
  const init_text text(options.lang);
  try {
    // --- gather and validate everything before touching a file ---
    const bool interactive = ::isatty(STDIN_FILENO) == 1;
    auto ask = [&](std::string& value, const init_message& question, std::string_view flag) {
      if (!value.empty()) return;
      if (!interactive) throw init_failure(fmt::format(fmt::runtime(text(messages::missing_flag)), flag));
      std::cerr << text(question) << ": ";
      std::getline(std::cin, value);
      if (value.empty()) throw init_failure(fmt::format(fmt::runtime(text(messages::missing_flag)), flag));
    };
    ask(options.gateway_id, messages::ask_gateway_id, "--gateway-id");
    ask(options.province, messages::ask_province, "--province");
    ask(options.commune, messages::ask_commune, "--commune");
    if (options.classes.empty() && interactive) {
      std::string line;
      std::cerr << fmt::format(fmt::runtime(text(messages::ask_classes)), fmt::join(all_device_broker_users(), ", "))
                << ": ";
      std::getline(std::cin, line);
      std::stringstream list(line);
      for (std::string item; std::getline(list, item, ',');) {
        item.erase(0, item.find_first_not_of(' '));
        item.erase(item.find_last_not_of(' ') + 1);
        if (!item.empty()) options.classes.push_back(item);
      }
    }
    if (options.classes.empty()) options.classes = {"streetlight", "env", "camera"};
    for (const auto& name : options.classes) {
      if (find_device_broker_account(name) == nullptr) {
        throw init_failure(
            fmt::format(fmt::runtime(text(messages::unknown_class)), name, fmt::join(all_device_broker_users(), ", ")));
      }
    }

    // Absolute: the config names files next to it, and mosquitto needs absolute paths.
    const fs::path config_path = fs::absolute(options.config_path);
    const fs::path config_dir = config_path.has_parent_path() ? config_path.parent_path() : fs::path(".");
    const fs::path gateway_password_path = config_dir / "mqtt.password";
    const fs::path broker_dir = fs::absolute(options.broker_dir);
    const fs::path broker_conf = broker_dir / "communegw.conf";
    const fs::path broker_passwd = broker_dir / "communegw.passwd";
    const fs::path broker_acl_path = broker_dir / "communegw.acl";
    const fs::path central_password_path = config_dir / "central.password";

    // Refusals. The packaged example config is a placeholder: replacing it loses nothing.
    std::error_code ec;
    if (!options.force) {
      if (fs::exists(config_path, ec) && read_whole(config_path) != example_config()) {
        throw init_failure(fmt::format(fmt::runtime(text(messages::refuse_overwrite)), config_path.string()));
      }
      for (const auto& path : {broker_conf, broker_passwd, broker_acl_path, gateway_password_path}) {
        if (fs::exists(path, ec))
          throw init_failure(fmt::format(fmt::runtime(text(messages::refuse_overwrite)), path.string()));
      }
    }
    if (!fs::is_directory(broker_dir, ec)) {
      throw init_failure(fmt::format(fmt::runtime(text(messages::no_directory)), broker_dir.string()));
    }
    if (!fs::is_directory(config_dir, ec)) {
      throw init_failure(fmt::format(fmt::runtime(text(messages::no_directory)), config_dir.string()));
    }

    std::string config_text = example_config();
    set_key(config_text, "gateway", "id", toml_string(options.gateway_id));
    set_key(config_text, "gateway", "province", toml_string(options.province));
    set_key(config_text, "gateway", "commune", toml_string(options.commune));
    set_key(config_text, "mqtt", "username", toml_string(std::string(gateway_broker_account().user)));
    set_key(config_text, "mqtt", "client_id", toml_string(random_client_id(options.gateway_id)));
    if (!options.central_url.empty()) {
      set_key(config_text, "uplink", "enabled", "true");
      set_key(config_text, "uplink", "uri", toml_string(options.central_url));
      if (!options.central_username.empty()) {
        set_key(config_text, "uplink", "username", toml_string(options.central_username));
      }
    }
    // Same validation as start-up: a bad identifier is reported as file:line: key: message.
    // (Before password_file is set: start-up also checks that file is readable,
    // and it is written only below.)
    (void)parse_config(config_text, config_path);
    set_key(config_text, "mqtt", "password_file", toml_string(gateway_password_path.string()));
    if (!options.central_url.empty() && !options.central_password.empty()) {
      set_key(config_text, "uplink", "password_file", toml_string(central_password_path.string()));
    }

    std::string broker_text(shipped_broker_config);
    if (options.lan_interface == "lo") {
      // A LAN listener bound to lo would take 127.0.0.1:1883, the loopback
      // listener's address, and mosquitto would refuse to start: the
      // loopback listener alone serves clients on this machine.
      replace_once(broker_text, "listener 1883\nbind_interface eth0\n",
                   "# (communegw init --lan-interface lo: no LAN listener; the loopback listener above serves\n"
                   "# clients on this machine. Run init again with the LAN interface for devices on the network.)\n");
      std::cerr << text(messages::loopback_only) << '\n';
    } else {
      replace_once(broker_text, "bind_interface eth0\n", fmt::format("bind_interface {}\n", options.lan_interface));
    }
    replace_once(broker_text, "/etc/mosquitto/conf.d/communegw.passwd", broker_passwd.string());
    replace_once(broker_text, "/etc/mosquitto/conf.d/communegw.acl", broker_acl_path.string());
    if (!fs::exists(fs::path("/sys/class/net") / options.lan_interface, ec)) {
      std::cerr << fmt::format(fmt::runtime(text(messages::no_interface)), options.lan_interface) << '\n';
    }

    // --- secrets ---
    struct login {
      std::string user;
      std::string password;
    };
    std::vector<login> logins{{std::string(gateway_broker_account().user), random_password()}};
    for (const auto& account : device_broker_accounts()) {
      if (std::find(options.classes.begin(), options.classes.end(), account.user) != options.classes.end()) {
        logins.push_back({std::string(account.user), random_password()});
      }
    }
    std::string passwd_text;
    for (const auto& l : logins) passwd_text += mosquitto_password_line(l.user, l.password);

    // --- write ---
    write_file_atomically(broker_acl_path, broker_acl(options.classes), 0644);
    write_file_atomically(broker_passwd, passwd_text, 0640);
    give_group(broker_passwd, "mosquitto");
    write_file_atomically(broker_conf, broker_text, 0644);
    write_file_atomically(gateway_password_path, logins.front().password + "\n", 0600);
    give_user(gateway_password_path, "communegw");
    if (!options.central_password.empty()) {
      write_file_atomically(central_password_path, options.central_password + "\n", 0600);
      give_user(central_password_path, "communegw");
    }
    write_file_atomically(config_path, config_text, 0640);
    give_group(config_path, "communegw");

    std::cout << fmt::format(fmt::runtime(text(messages::written)), config_path.string(), broker_conf.string(),
                             broker_passwd.string(), broker_acl_path.string())
              << "\n\n"
              << text(messages::passwords_once) << '\n';
    for (const auto& l : logins) std::cout << fmt::format("  {:<12} {}\n", l.user, l.password);
    std::cout << '\n' << text(messages::next_steps) << "\n\n" << text(messages::checking) << '\n';
    std::cout.flush();
    // The broker line fails until mosquitto is restarted with the new files;
    // init has still done its job, so its own exit status stays 0.
    check_gateway(load_config(config_path));
    return 0;
  } catch (const init_failure& failure) {
    std::cerr << "init: " << failure.what() << '\n';
    return 2;
  } catch (const config_error& error) {
    std::cerr << "init: " << error.what() << '\n';
    return 2;
  } catch (const fs::filesystem_error& error) {
    std::cerr << "init: " << error.what() << '\n';
    return 2;
  }
}

}  // namespace communegw
