// The local broker with TLS and a password: certificates are generated here,
// for this test, with openssl.
#include <doctest/doctest.h>

#include <cstdlib>

#include "tests/support/harness.hpp"

using namespace communegw::test;
using namespace std::chrono_literals;


TEST_CASE("TLS and username/password to the local broker - wrong CA and wrong password are clear failures") {
  temp_dir dir;
  make_pki(dir.path(), "good");
  make_pki(dir.path(), "other");
  const auto pki = dir / "good";
  run_or_fail("mosquitto_passwd -b -c " + (dir / "passwd").string() + " gateway 'Corr3ct-horse'");
  // mosquitto reads these after dropping root: let it.
  run_or_fail("chmod -R a+rX " + dir.path().string());
  int tls_port = free_port();
  mosquitto_broker broker(dir / "broker", [&](int plain_port) {
    return "per_listener_settings true\n"
           "listener " + std::to_string(plain_port) + " 127.0.0.1\nallow_anonymous true\n"
           "listener " + std::to_string(tls_port) + " 127.0.0.1\nallow_anonymous false\n"
           "password_file " + (dir / "passwd").string() + "\n"
           "cafile " + (pki / "ca.crt").string() + "\ncertfile " + (pki / "server.crt").string() +
           "\nkeyfile " + (pki / "server.key").string() + "\n"
           "log_dest stdout\n";
  });
  write_file(dir / "good.pw", "Corr3ct-horse\n");
  write_file(dir / "bad.pw", "wrong\n");
  const auto db = dir / "gw" / "store.db";
  auto config = [&](const std::string& ca, const std::string& pw) {
    return "[gateway]\nid = \"gw-tls\"\nprovince = \"p\"\ncommune = \"c\"\n"
           "[mqtt]\nuri = \"ssl://127.0.0.1:" + std::to_string(tls_port) + "\"\nusername = \"gateway\"\n"
           "password_file = \"" + pw + "\"\nca_file = \"" + ca + "\"\nreconnect_min = \"100ms\"\nreconnect_max = \"1s\"\n"
           "[store]\npath = \"" + db.string() + "\"\n";
  };

  gateway_process gateway(dir / "gw", config((pki / "ca.crt").string(), (dir / "good.pw").string()));
  publisher pub(broker.uri());  // devices on the plain listener
  REQUIRE(wait_for([&] {
    pub.publish("commune/c/env/e-tls/telemetry", R"({"seq":1,"pm2_5":7.5})");
    return store_count(db, "SELECT count(*) FROM readings WHERE device = 'e-tls' AND value = 7.5") == 1;
  }, 30s));

  write_file(dir / "check-good.toml", config((pki / "ca.crt").string(), (dir / "good.pw").string()));
  const auto good = run_communegw({"--config", (dir / "check-good.toml").string(), "check"}, dir.path());
  CHECK(good.output.find("ok    broker") != std::string::npos);

  write_file(dir / "check-pw.toml", config((pki / "ca.crt").string(), (dir / "bad.pw").string()));
  const auto bad_password = run_communegw({"--config", (dir / "check-pw.toml").string(), "check"}, dir.path());
  CHECK(bad_password.status == 2);
  CHECK(bad_password.output.find("fail  broker") != std::string::npos);
  CHECK(bad_password.output.find("refused the connection") != std::string::npos);

  write_file(dir / "check-ca.toml", config((dir / "other" / "ca.crt").string(), (dir / "good.pw").string()));
  const auto wrong_ca = run_communegw({"--config", (dir / "check-ca.toml").string(), "check"}, dir.path());
  CHECK(wrong_ca.status == 2);
  CHECK(wrong_ca.output.find("fail  broker") != std::string::npos);
  CHECK(wrong_ca.output.find("TLS") != std::string::npos);
}
