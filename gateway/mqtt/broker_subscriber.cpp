#include "gateway/mqtt/broker_subscriber.hpp"

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

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

mqtt::connect_options make_connect_options(const mqtt_settings& settings, bool clean_session) {
  mqtt::connect_options options;
  options.set_clean_session(clean_session);
  options.set_keep_alive_interval(std::chrono::duration_cast<std::chrono::seconds>(settings.keepalive));
  options.set_connect_timeout(std::chrono::duration_cast<std::chrono::seconds>(settings.connect_timeout));
  options.set_automatic_reconnect(false);  // we own reconnects: one backoff policy, visible in logs
  if (!settings.username.empty()) options.set_user_name(settings.username);
  if (!settings.password.empty()) options.set_password(settings.password);
  const auto uri = normalised_uri(settings.uri);
  if (uri.rfind("ssl://", 0) == 0) {
    mqtt::ssl_options ssl;
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

std::string describe_connect_failure(int code, const std::string& message) {
  // MQTT 3.1.1 CONNACK return codes, as Paho reports them.
  switch (code) {
    case 1: return "broker refused the connection: unacceptable protocol version";
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
                                                 mqtt::create_options(MQTTVERSION_3_1_1), nullptr);
  client_->set_message_callback([this](mqtt::const_message_ptr message) {
    const auto& payload = message->get_payload_ref();
    sink_(message->get_topic(), std::string_view(payload.data(), payload.size()),
          delivery_flags{.redelivered = message->is_duplicate(), .retained = message->is_retained()});
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
    boost::asio::post(io_, [this] { schedule_reconnect(); });
  });
}

broker_subscriber::subscribe_result::subscribe_result(const std::vector<std::string>& filters) : filters_(filters) {}

void broker_subscriber::subscribe_result::on_success(const mqtt::token&) {
  spdlog::info("mqtt: subscribed (QoS 1) to {}", fmt::join(filters_, ", "));
}

void broker_subscriber::subscribe_result::on_failure(const mqtt::token& tok) {
  // The broker refused (ACL) or the connection dropped mid-way; the next
  // connect subscribes again.
  spdlog::error("mqtt: subscribing to {} failed: {}", fmt::join(filters_, ", "),
                describe_connect_failure(tok.get_return_code(), {}));
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
                     describe_connect_failure(tok.get_return_code(), {}));
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
                              mqtt::create_options(MQTTVERSION_3_1_1), nullptr);
    auto token = client.connect(make_connect_options(settings, /*clean_session=*/true));
    if (!token->wait_for(settings.connect_timeout + std::chrono::seconds(1))) return "no answer before mqtt.connect_timeout";
    client.disconnect()->wait_for(std::chrono::seconds(2));
    return {};
  } catch (const mqtt::exception& error) {
    return describe_connect_failure(error.get_return_code(), error.get_error_str().empty() ? error.what() : error.get_error_str());
  }
}

}  // namespace communegw
