#include "gateway/mqtt/broker_subscriber.hpp"

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "gateway/mqtt/connection_diagnosis.hpp"

namespace communegw {
namespace {

// Paho calls back on its own threads; these forward to our lambdas.
class action_listener final : public mqtt::iaction_listener {
 public:
  using handler = std::function<void(const mqtt::token&)>;
  action_listener(handler on_ok, handler on_error) : on_ok_(std::move(on_ok)), on_error_(std::move(on_error)) {}
  void on_success(const mqtt::token& tok) override { on_ok_(tok); }
  void on_failure(const mqtt::token& tok) override { on_error_(tok); }

 private:
  handler on_ok_, on_error_;
};

}  // namespace

std::string normalised_uri(const std::string& uri) {
  // Accept mqtt:// and mqtts:// spellings; Paho knows tcp:// and ssl://.
  if (uri.rfind("mqtts://", 0) == 0) return "ssl://" + uri.substr(8);
  if (uri.rfind("mqtt://", 0) == 0) return "tcp://" + uri.substr(7);
  return uri;
}

mqtt::create_options make_create_options(const mqtt_settings& settings) {
  return mqtt::create_options(settings.protocol == mqtt_protocol::v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1);
}

mqtt::connect_options make_connect_options(const mqtt_settings& settings, bool clean_session) {
  mqtt::connect_options options;
  if (settings.protocol == mqtt_protocol::v5) {
    options.set_mqtt_version(MQTTVERSION_5);
    options.set_clean_start(clean_session);
    // A 5 session ends when the connection does unless it asks for an expiry:
    // "never" keeps it across gateway restarts and link losses, as 3.1.1's
    // clean-session-off does (the broker's persistent_client_expiration still applies).
    if (!clean_session) options.set_properties({mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL, 0xFFFFFFFF)});
  } else {
    options.set_mqtt_version(MQTTVERSION_3_1_1);
    options.set_clean_session(clean_session);
  }
  options.set_keep_alive_interval(std::chrono::duration_cast<std::chrono::seconds>(settings.keepalive));
  options.set_connect_timeout(std::chrono::duration_cast<std::chrono::seconds>(settings.connect_timeout));
  options.set_automatic_reconnect(false);  // we own reconnects: one backoff policy, visible in logs
  if (!settings.username.empty()) options.set_user_name(settings.username);
  if (!settings.password.empty()) options.set_password(settings.password);
  const auto uri = normalised_uri(settings.uri);
  if (uri.rfind("ssl://", 0) == 0) {
    mqtt::ssl_options ssl;
    // With a trust store given, Paho C loads only that file, never the
    // system's CAs (SSLSocket.c): trust is pinned to the configured CA.
    if (!settings.ca_file.empty()) ssl.set_trust_store(settings.ca_file);
    if (!settings.cert_file.empty()) ssl.set_key_store(settings.cert_file);
    if (!settings.key_file.empty()) ssl.set_private_key(settings.key_file);
    ssl.set_enable_server_cert_auth(true);
    ssl.set_verify(true);
    // No ssl_options::set_error_handler: in Paho C++ 1.2 its context pointer
    // is left pointing at the caller's copy of the options, which is gone when
    // the handshake fails (AddressSanitizer: stack-use-after-scope).
    options.set_ssl(std::move(ssl));
  }
  return options;
}

std::string describe_reason_code(int reason_code) {
  // MQTT 5 reason codes a broker sends in CONNACK, SUBACK and PUBACK.
  switch (reason_code) {
    case 0x80: return "unspecified error";
    case 0x81: return "malformed packet";
    case 0x82: return "protocol error";
    case 0x83: return "implementation specific error";
    case 0x84: return "unsupported protocol version (the broker does not speak MQTT 5: set protocol = \"3.1.1\")";
    case 0x85: return "client id not valid";
    case 0x86: return "bad username or password";
    case 0x87: return "not authorised (the broker's ACL refuses this user or topic)";
    case 0x88: return "server unavailable";
    case 0x89: return "server busy";
    case 0x8A: return "banned";
    case 0x8C: return "bad authentication method";
    case 0x90: return "topic name invalid";
    case 0x95: return "packet too large for the broker";
    case 0x97: return "quota exceeded";
    case 0x99: return "payload format invalid";
    default: return fmt::format("reason code 0x{:02X}", reason_code);
  }
}

std::string describe_connect_failure(int code, int reason_code, const std::string& message) {
  // MQTT 5: Paho reports the CONNACK reason code as the return code, or as the reason code.
  if (const int reason = reason_code >= 0x80 ? reason_code : code; reason >= 0x80) {
    if (reason == 0x86 || reason == 0x87) code = reason == 0x86 ? 4 : 5;  // worded as for 3.1.1 below
    else return "broker refused the connection: " + describe_reason_code(reason);
  }
  // MQTT 3.1.1 CONNACK return codes, as Paho reports them.
  switch (code) {
    case 1: return "broker refused the connection: unacceptable protocol version (set protocol to what the broker speaks)";
    case 2: return "broker refused the connection: client id rejected";
    case 3: return "broker refused the connection: server unavailable";
    case 4: return "broker refused the connection: bad username or password";
    case 5: return "broker refused the connection: not authorised (wrong username or password, or the broker's ACL refuses this user)";
    default: break;
  }
  if (code == -1) {
    return fmt::format("connection failed: broker not reachable, or the TLS handshake failed{}{}",
                       message.empty() ? "" : ": ", message);
  }
  return fmt::format("connection failed (Paho code {}){}{}", code, message.empty() ? "" : ": ", message);
}

broker_subscriber::broker_subscriber(const mqtt_settings& settings, std::vector<std::string> filters,
                                     boost::asio::io_context& io, message_sink sink)
    : settings_(settings),
      filters_(std::move(filters)),
      io_(io),
      reconnect_timer_(io),
      sink_(std::move(sink)),
      options_(make_connect_options(settings, /*clean_session=*/false)),
      backoff_(settings.reconnect_min, settings.reconnect_max),
      subscribe_listener_(filters_) {
  // No client-side persistence: we only receive, and Paho C never persists a
  // received QoS 1 message (it acknowledges it when our callback returns;
  // docs/durability.md), so there is nothing useful it could keep for us.
  client_ = std::make_unique<mqtt::async_client>(normalised_uri(settings.uri), settings.client_id,
                                                 make_create_options(settings), nullptr);
  client_->set_message_callback([this](mqtt::const_message_ptr message) {
    const auto& payload = message->get_payload_ref();
    sink_(inbound_message{.topic = message->get_topic(),
                          .payload = std::string_view(payload.data(), payload.size()),
                          .received = {},
                          .flags = {.redelivered = message->is_duplicate(), .retained = message->is_retained()},
                          .owner = payload.size() > large_payload_bytes ? message : nullptr});
  });
  client_->set_connected_handler([this](const std::string&) {
    stats_.connected = true;
    stats_.connects.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("mqtt: connected to {} as {}", settings_.uri, settings_.client_id);
    backoff_.reset();
    subscribe();
  });
  client_->set_connection_lost_handler([this](const std::string& cause) {
    stats_.connected = false;
    stats_.connection_losses.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("mqtt: lost the connection to {}{}{}", settings_.uri, cause.empty() ? "" : ": ", cause);
    boost::asio::post(io_, [this] {
      note_connection_loss();
      schedule_reconnect();
    });
  });
}

// io_ thread. A broker that drops the session again and again while it
// accepts every reconnect is most often another client connecting with the
// same client id (mosquitto closes the older connection: a session taken over).
void broker_subscriber::note_connection_loss() {
  const auto now = std::chrono::steady_clock::now();
  recent_losses_.push_back(now);
  while (!recent_losses_.empty() && now - recent_losses_.front() > takeover_window) recent_losses_.pop_front();
  if (recent_losses_.size() >= takeover_losses) {
    spdlog::error("mqtt: the broker dropped the gateway's connection {} times within {} s although it accepts each "
                  "reconnect: another client is probably connecting with the client id \"{}\" and taking the session "
                  "over. Give the gateway a client id no device knows (mqtt.client_id; communegw init writes one)",
                  recent_losses_.size(), std::chrono::duration_cast<std::chrono::seconds>(takeover_window).count(),
                  settings_.client_id);
    recent_losses_.clear();
  }
}

broker_subscriber::subscribe_result::subscribe_result(const std::vector<std::string>& filters) : filters_(filters) {}

void broker_subscriber::subscribe_result::on_success(const mqtt::token&) {
  spdlog::info("mqtt: subscribed (QoS 1) to {}", fmt::join(filters_, ", "));
}

void broker_subscriber::subscribe_result::on_failure(const mqtt::token& tok) {
  // The broker refused (ACL) or the connection dropped mid-way; the next
  // connect subscribes again.
  spdlog::error("mqtt: subscribing to {} failed: {}", fmt::join(filters_, ", "),
                describe_connect_failure(tok.get_return_code(), tok.get_reason_code(), {}));
}

broker_subscriber::~broker_subscriber() { stop(); }

void broker_subscriber::start() {
  boost::asio::post(io_, [this] { connect(); });
}

void broker_subscriber::connect() {
  if (stopping_) return;
  auto on_failure = [this](const mqtt::token& tok) {
    stats_.connect_failures.fetch_add(1, std::memory_order_relaxed);
    failure_log_.log(spdlog::level::err, "mqtt: cannot connect to {}: {}", settings_.uri,
                     describe_connect_failure(tok.get_return_code(), tok.get_reason_code(), {}));
    boost::asio::post(io_, [this] { schedule_reconnect(); });
  };
  auto listener = std::make_shared<action_listener>([](const mqtt::token&) {}, on_failure);
  try {
    // The listener must outlive the attempt; the token keeps a reference only.
    client_->connect(options_, nullptr, *listener);
    pending_listener_ = listener;
  } catch (const mqtt::exception& error) {
    failure_log_.log(spdlog::level::err, "mqtt: cannot start connecting to {}: {}", settings_.uri, error.what());
    schedule_reconnect();
  }
}

void broker_subscriber::schedule_reconnect() {
  if (stopping_) return;
  const auto delay = backoff_.next();
  spdlog::debug("mqtt: reconnecting in {} ms", delay.count());
  reconnect_timer_.expires_after(delay);
  reconnect_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) connect();
  });
}

void broker_subscriber::subscribe() {
  if (filters_.empty()) return;
  auto topics = mqtt::string_collection::create(filters_);
  std::vector<int> qos(filters_.size(), 1);
  try {
    // Runs on Paho's callback thread: never wait for the token here.
    client_->subscribe(topics, qos, nullptr, subscribe_listener_);
  } catch (const mqtt::exception& error) {
    spdlog::error("mqtt: subscribe failed: {}", error.what());
  }
}

void broker_subscriber::stop() {
  if (stopping_.exchange(true)) return;
  reconnect_timer_.cancel();
  try {
    if (client_->is_connected()) client_->disconnect(std::chrono::seconds(2))->wait_for(std::chrono::seconds(5));
  } catch (const mqtt::exception& error) {
    spdlog::warn("mqtt: disconnect: {}", error.what());
  }
  stats_.connected = false;
}

std::string probe_broker(const mqtt_settings& settings) {
  try {
    mqtt::async_client client(normalised_uri(settings.uri), settings.client_id + "-check",
                              make_create_options(settings), nullptr);
    auto token = client.connect(make_connect_options(settings, /*clean_session=*/true));
    if (!token->wait_for(settings.connect_timeout + std::chrono::seconds(1))) return "no answer before mqtt.connect_timeout";
    client.disconnect()->wait_for(std::chrono::seconds(2));
    return {};
  } catch (const mqtt::exception& error) {
    // Paho says "failed" alike for TCP and TLS: name the step that failed.
    if (error.get_return_code() == -1) {
      if (auto why = diagnose_connection(settings, settings.connect_timeout); !why.empty()) return "connection failed: " + why;
    }
    return describe_connect_failure(error.get_return_code(), error.get_reason_code(),
                                    error.get_error_str().empty() ? error.what() : error.get_error_str());
  }
}

}  // namespace communegw
