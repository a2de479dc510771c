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

TEST_CASE("check names why a broker connection fails: refused, no TLS on the port, untrusted, wrong host, expired") {
  temp_dir dir;
  make_pki(dir.path(), "good");
  make_pki(dir.path(), "other");
  const auto pki = dir / "good";
  // A server certificate for another host, and an expired one, both signed by the good CA.
  const auto d = pki.string();
  write_file(d + "/elsewhere.cnf", "subjectAltName=DNS:broker.elsewhere.example\n");
  run_or_fail("openssl req -newkey rsa:2048 -nodes -subj /CN=broker.elsewhere.example -keyout " + d +
              "/elsewhere.key -out " + d + "/elsewhere.csr");
  run_or_fail("openssl x509 -req -in " + d + "/elsewhere.csr -CA " + d + "/ca.crt -CAkey " + d +
              "/ca.key -CAcreateserial -days 2 -extfile " + d + "/elsewhere.cnf -out " + d + "/elsewhere.crt");
  write_file(d + "/index.txt", "");
  write_file(d + "/serial", "1000\n");
  write_file(d + "/ca.cnf", "[ca]\ndefault_ca = here\n[here]\ndir = " + d + "\ndatabase = " + d + "/index.txt\nnew_certs_dir = " +
                                d + "\nserial = " + d + "/serial\ndefault_md = sha256\npolicy = any\ncopy_extensions = copy\n"
                                "[any]\ncommonName = supplied\n");
  run_or_fail("openssl ca -batch -notext -config " + d + "/ca.cnf -cert " + d + "/ca.crt -keyfile " + d + "/ca.key -in " + d +
              "/server.csr -startdate 20240101000000Z -enddate 20240102000000Z -extfile " + d + "/san.cnf -out " + d +
              "/expired.crt 2>/dev/null");
  run_or_fail("chmod -R a+rX " + dir.path().string());
  const int good_port = free_port(), elsewhere_port = free_port(), expired_port = free_port();
  mosquitto_broker broker(dir / "broker", [&](int plain_port) {
    auto tls_listener = [&](int port, const std::string& cert, const std::string& key) {
      return "listener " + std::to_string(port) + " 127.0.0.1\ncafile " + d + "/ca.crt\ncertfile " + d + "/" + cert +
             "\nkeyfile " + d + "/" + key + "\n";
    };
    return "allow_anonymous true\nlistener " + std::to_string(plain_port) + " 127.0.0.1\n" +
           tls_listener(good_port, "server.crt", "server.key") + tls_listener(elsewhere_port, "elsewhere.crt", "elsewhere.key") +
           tls_listener(expired_port, "expired.crt", "server.key") + "log_dest stdout\n";
  });
  auto check_with = [&](const std::string& uri, const std::string& ca) {
    write_file(dir / "gw.toml", "[gateway]\nid = \"gw-tls\"\nprovince = \"p\"\ncommune = \"c\"\n[mqtt]\nuri = \"" + uri +
                                    "\"\nca_file = \"" + ca + "\"\nconnect_timeout = \"2s\"\n[store]\npath = \"" +
                                    (dir / "store.db").string() + "\"\n");
    const auto result = run_communegw({"--config", (dir / "gw.toml").string(), "check"}, dir.path());
    INFO(result.output);
    CHECK(result.status == 2);
    return result.output;
  };
  const auto good_ca = (pki / "ca.crt").string();
  const auto port = [](int p) { return std::to_string(p); };
  // The good listener with the right CA works: the cases below differ in one thing each.
  write_file(dir / "gw.toml", "[gateway]\nid = \"gw-tls\"\nprovince = \"p\"\ncommune = \"c\"\n[mqtt]\nuri = \"ssl://127.0.0.1:" +
                                  port(good_port) + "\"\nca_file = \"" + good_ca + "\"\n[store]\npath = \"" +
                                  (dir / "store.db").string() + "\"\n");
  CHECK(run_communegw({"--config", (dir / "gw.toml").string(), "check"}, dir.path()).output.find("ok    broker") !=
        std::string::npos);

  CHECK(check_with("ssl://127.0.0.1:" + port(free_port()), good_ca)
            .find("connection failed: cannot connect to 127.0.0.1:") != std::string::npos);
  CHECK(check_with("ssl://127.0.0.1:" + port(free_port()), good_ca).find("connection refused") != std::string::npos);
  CHECK(check_with("ssl://127.0.0.1:" + port(broker.port()), good_ca)
            .find("TLS: the broker does not speak TLS on port " + port(broker.port())) != std::string::npos);
  CHECK(check_with("ssl://127.0.0.1:" + port(good_port), (dir / "other" / "ca.crt").string())
            .find("TLS: the broker's certificate is not trusted: it is not signed by the configured CA") != std::string::npos);
  CHECK(check_with("ssl://127.0.0.1:" + port(elsewhere_port), good_ca)
            .find("TLS: the broker's certificate is not for \"127.0.0.1\"") != std::string::npos);
  CHECK(check_with("ssl://127.0.0.1:" + port(expired_port), good_ca)
            .find("TLS: the broker's certificate expired on 2024-01-02") != std::string::npos);
}
