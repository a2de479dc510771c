#include "gateway/mqtt/connection_diagnosis.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string_view>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace communegw {
namespace {

struct endpoint {
  bool tls = false;
  std::string host;
  std::string port;
};

// tcp://host:port, ssl://…, mqtt://…, mqtts://…; [v6] hosts in brackets.
std::optional<endpoint> parse_uri(std::string_view uri) {
  endpoint out;
  const auto scheme_end = uri.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  const auto scheme = uri.substr(0, scheme_end);
  out.tls = scheme == "ssl" || scheme == "mqtts";
  auto rest = uri.substr(scheme_end + 3);
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  std::string_view host = rest, port;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  out.host = host;
  out.port = port.empty() ? (out.tls ? "8883" : "1883") : std::string(port);
  return out;
}

struct fd_closer {
  int fd = -1;
  ~fd_closer() {
    if (fd >= 0) ::close(fd);
  }
};

// A connected socket in `socket`, or why not.
std::string connect_tcp(const endpoint& where, std::chrono::milliseconds timeout, fd_closer& socket) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(where.host.c_str(), where.port.c_str(), &hints, &found); rc != 0) {
    return fmt::format("cannot resolve the broker's name \"{}\": {}", where.host, ::gai_strerror(rc));
  }
  const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
  std::string last_error = "no address";
  for (const auto* address = found; address != nullptr; address = address->ai_next) {
    fd_closer attempt{::socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, address->ai_protocol)};
    if (attempt.fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int rc = ::connect(attempt.fd, address->ai_addr, address->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd waiting{attempt.fd, POLLOUT, 0};
      rc = ::poll(&waiting, 1, static_cast<int>(timeout.count()));
      if (rc == 0) {
        last_error = fmt::format("no answer within {} s (a firewall, or the host is down)", timeout.count() / 1000);
        continue;
      }
      int error = 0;
      socklen_t length = sizeof error;
      ::getsockopt(attempt.fd, SOL_SOCKET, SO_ERROR, &error, &length);
      rc = error == 0 ? 0 : -1;
      errno = error;
    }
    if (rc != 0) {
      last_error = errno == ECONNREFUSED ? "connection refused (no broker listens on that port)" : std::strerror(errno);
      continue;
    }
    // Back to blocking for the TLS handshake, bounded by the timeouts below.
    ::fcntl(attempt.fd, F_SETFL, ::fcntl(attempt.fd, F_GETFL) & ~O_NONBLOCK);
    timeval limit{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ::setsockopt(attempt.fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    ::setsockopt(attempt.fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    std::swap(socket.fd, attempt.fd);
    return {};
  }
  return fmt::format("cannot connect to {}:{}: {}", where.host, where.port, last_error);
}

std::string not_after_text(X509* certificate) {
  if (!certificate) return "?";
  tm when{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(certificate), &when) != 1) return "?";
  return fmt::format("{:04}-{:02}-{:02}", when.tm_year + 1900, when.tm_mon + 1, when.tm_mday);
}

// OpenSSL's verify callback: keeps the expiry date of a certificate that has
// expired (the peer certificate is not available once verification failed).
int remember_expiry(int preverified, X509_STORE_CTX* store) {
  if (!preverified && X509_STORE_CTX_get_error(store) == X509_V_ERR_CERT_HAS_EXPIRED) {
    auto* tls = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    if (auto* expiry = tls ? static_cast<std::string*>(SSL_get_app_data(tls)) : nullptr) {
      *expiry = not_after_text(X509_STORE_CTX_get_current_cert(store));
    }
  }
  return preverified;
}

std::string tls_handshake(const endpoint& where, const mqtt_settings& settings, int fd) {
  const std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> context(SSL_CTX_new(TLS_client_method()), &SSL_CTX_free);
  if (!context) return "TLS: cannot create a context";
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, &remember_expiry);
  if (!settings.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(context.get(), settings.ca_file.c_str(), nullptr) != 1) {
      return fmt::format("cannot read the CA certificate {}", settings.ca_file);
    }
  } else {
    SSL_CTX_set_default_verify_paths(context.get());
  }
  if (!settings.cert_file.empty() &&
      (SSL_CTX_use_certificate_chain_file(context.get(), settings.cert_file.c_str()) != 1 ||
       SSL_CTX_use_PrivateKey_file(context.get(), settings.key_file.c_str(), SSL_FILETYPE_PEM) != 1)) {
    return fmt::format("cannot use the client certificate {} with its key {}", settings.cert_file, settings.key_file);
  }
  const std::unique_ptr<SSL, decltype(&SSL_free)> tls(SSL_new(context.get()), &SSL_free);
  if (!tls) return "TLS: cannot create a session";
  SSL_set_fd(tls.get(), fd);
  std::string expiry = "?";
  SSL_set_app_data(tls.get(), &expiry);
  SSL_set_tlsext_host_name(tls.get(), where.host.c_str());
  // The name the certificate must carry, as Paho checks it (an IP address or a DNS name).
  X509_VERIFY_PARAM* check = SSL_get0_param(tls.get());
  if (X509_VERIFY_PARAM_set1_ip_asc(check, where.host.c_str()) != 1) X509_VERIFY_PARAM_set1_host(check, where.host.c_str(), 0);
  ERR_clear_error();
  if (SSL_connect(tls.get()) == 1) return {};
  const long verdict = SSL_get_verify_result(tls.get());
  switch (verdict) {
    case X509_V_OK: break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return fmt::format("TLS: the broker's certificate expired on {}", expiry);
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "TLS: the broker's certificate is not valid yet (is this board's clock right?)";
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return fmt::format("TLS: the broker's certificate is not for \"{}\" (the name in the broker's URI)", where.host);
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      return fmt::format("TLS: the broker's certificate is not trusted: it is not signed by the configured CA ({})",
                         settings.ca_file.empty() ? "the system's CAs" : settings.ca_file);
    default:
      return fmt::format("TLS: the broker's certificate was refused: {}", X509_verify_cert_error_string(verdict));
  }
  const unsigned long error = ERR_peek_error();
  if (ERR_GET_REASON(error) == SSL_R_WRONG_VERSION_NUMBER || ERR_GET_REASON(error) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
    return fmt::format("TLS: the broker does not speak TLS on port {} (an MQTT port without TLS?)", where.port);
  }
  if (ERR_GET_REASON(error) == SSL_R_TLSV1_ALERT_UNKNOWN_CA || ERR_GET_REASON(error) == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
      ERR_GET_REASON(error) == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
      ERR_GET_REASON(error) == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE) {
    return "TLS: the broker refused this gateway's client certificate (or wants one and none is configured)";
  }
  if (error == 0) {
    // Closed without a TLS answer: what an MQTT listener without TLS does
    // with a TLS hello.
    return fmt::format("TLS: the broker does not speak TLS on port {} (it closed the connection at the handshake)", where.port);
  }
  char text[256];
  ERR_error_string_n(error, text, sizeof text);
  return fmt::format("TLS handshake failed: {}", text);
}

}  // namespace

std::string diagnose_connection(const mqtt_settings& settings, std::chrono::milliseconds timeout) {
  const auto where = parse_uri(settings.uri);
  if (!where) return fmt::format("\"{}\" is not a broker URI", settings.uri);
  fd_closer socket;
  if (auto problem = connect_tcp(*where, timeout, socket); !problem.empty()) return problem;
  if (!where->tls) return {};
  return tls_handshake(*where, settings, socket.fd);
}

}  // namespace communegw
