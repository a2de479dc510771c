#include "tools/sim/sim_publisher.hpp"

#include <thread>

#include <fmt/format.h>

namespace communegw {
namespace {

// How long the broker may stay away mid-run before the simulator gives up.
constexpr auto reconnect_patience = std::chrono::seconds(30);
// More completed-but-unreaped tokens than this only cost memory; waiting on
// the oldest keeps the deque bounded without slowing a healthy broker.
constexpr std::size_t max_pending_tokens = 50'000;

std::string connect_failure(const mqtt::exception& error) {
  // MQTT 3.1.1 CONNACK return codes as Paho reports them, then Paho's own.
  switch (error.get_return_code()) {
    case 2: return "broker refused the client id";
    case 4: return "broker refused the connection: bad username or password";
    case 5: return "broker refused the connection: not authorised (check --username and --password-file)";
    case MQTTASYNC_FAILURE: return "broker not reachable (is it running, is the port right?)";
    default: break;
  }
  return error.what();
}

// token::wait_for throws when the delivery failed; the caller reads the
// return code instead, so waiting itself never throws.
void wait_quietly(mqtt::delivery_token& token, std::chrono::milliseconds timeout) {
  try {
    token.wait_for(timeout);
  } catch (const mqtt::exception&) {
  }
}

}  // namespace

sim_publisher::sim_publisher(const sim_settings& settings) : settings_(settings) {
  // No client-side persistence: a simulator that crashes simply starts again.
  client_ = std::make_unique<mqtt::async_client>(settings.broker_uri, settings.client_id,
                                                 mqtt::create_options(MQTTVERSION_3_1_1), nullptr);
}

sim_publisher::~sim_publisher() {
  try {
    if (client_->is_connected()) client_->disconnect()->wait_for(std::chrono::seconds(2));
  } catch (const mqtt::exception&) {
    // Best effort at exit: the broker drops the connection anyway.
  }
}

void sim_publisher::connect() {
  mqtt::connect_options options;
  options.set_clean_session(true);
  options.set_keep_alive_interval(std::chrono::seconds(30));
  options.set_connect_timeout(std::chrono::seconds(10));
  options.set_automatic_reconnect(std::chrono::seconds(1), std::chrono::seconds(8));
  if (!settings_.username.empty()) options.set_user_name(settings_.username);
  if (!settings_.password.empty()) options.set_password(settings_.password);
  try {
    client_->connect(options)->wait();
  } catch (const mqtt::exception& error) {
    throw publish_error(fmt::format("cannot connect to {}: {}", settings_.broker_uri, connect_failure(error)));
  }
}

void sim_publisher::account(const mqtt::delivery_token& token) {
  if (token.get_return_code() == 0) ++stats_.acknowledged;
  else ++stats_.failed;
}

void sim_publisher::reap_completed() {
  while (!pending_.empty() && pending_.front()->is_complete()) {
    account(*pending_.front());
    pending_.pop_front();
  }
}

void sim_publisher::publish(const std::string& topic, const std::string& payload) {
  auto gone_since = std::chrono::steady_clock::time_point::max();
  while (true) {
    try {
      pending_.push_back(client_->publish(topic, payload.data(), payload.size(), settings_.qos, false));
      ++stats_.handed_over;
      break;
    } catch (const mqtt::exception& error) {
      const auto now = std::chrono::steady_clock::now();
      if (error.get_return_code() == MQTTASYNC_MAX_BUFFERED_MESSAGES) {
        // Back-pressure: wait for the oldest delivery, which frees Paho's buffer soon after.
        ++stats_.backpressure_waits;
        reap_completed();
        if (!pending_.empty()) wait_quietly(*pending_.front(), std::chrono::milliseconds(1));
        else std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
      if (error.get_return_code() == MQTTASYNC_DISCONNECTED) {
        // Paho's automatic reconnect is at work; wait for it, within reason.
        if (gone_since == std::chrono::steady_clock::time_point::max()) gone_since = now;
        if (now - gone_since > reconnect_patience) {
          throw publish_error(fmt::format("lost the broker {} and it did not come back within {} s", settings_.broker_uri,
                                          reconnect_patience.count()));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      throw publish_error(fmt::format("publishing to {} failed: {}", topic, error.what()));
    }
  }
  reap_completed();
  if (pending_.size() > max_pending_tokens) {
    wait_quietly(*pending_.front(), reconnect_patience);
    reap_completed();
  }
}

bool sim_publisher::drain(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pending_.empty()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    auto& oldest = *pending_.front();
    if (!oldest.is_complete()) {
      wait_quietly(oldest, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) + std::chrono::milliseconds(1));
      if (!oldest.is_complete()) return false;
    }
    account(oldest);
    pending_.pop_front();
  }
  return true;
}

void sim_publisher::disconnect() {
  try {
    if (client_->is_connected()) client_->disconnect()->wait_for(std::chrono::seconds(5));
  } catch (const mqtt::exception&) {
    // The messages are acknowledged already; a failed DISCONNECT changes nothing.
  }
}

}  // namespace communegw
