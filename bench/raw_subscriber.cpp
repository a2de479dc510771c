// communegw-bench-raw-subscriber: the floor of the ingest benchmark. This
// sample demonstrates the least a Paho C++ subscriber can do per message:
// a message callback (set_message_callback, not consume_message, which costs
// 2.5x) that only counts. Same client settings as the gateway: MQTT 3.1.1,
// persistent session (clean_session=false), QoS 1, no client persistence.
// Paho's process-wide settings stay Paho's defaults unless asked for:
//
//   --gateway-paho-settings  the gateway's (gateway/mqtt/paho_process.hpp),
//                      for the like-for-like floor (a') of bench/run.sh
//   --subscribe-only   connect, subscribe, disconnect: leaves a session at the
//                      broker that queues messages while we are away
//   --count N          drain N messages, print the time taken, exit
//
// The last line of output is machine-readable for bench/run.sh:
//   RESULT count=<n> connect_to_last_s=<s> first_to_last_s=<s> rate=<msg/s>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>

#include <CLI/CLI.hpp>
#include <mqtt/async_client.h>

#include "gateway/mqtt/paho_process.hpp"

namespace {

using steady = std::chrono::steady_clock;

// Counts messages on Paho's callback thread; the main thread waits for the last one.
class message_counter {
 public:
  explicit message_counter(std::uint64_t target) : target_(target) {}

  void on_message() {
    const auto n = count_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n == 1) first_ = steady::now();
    if (n == target_) {
      last_ = steady::now();
      std::lock_guard lock(mutex_);
      done_ = true;
      done_cv_.notify_all();
    }
  }
  bool wait(std::chrono::seconds timeout) {
    std::unique_lock lock(mutex_);
    return done_cv_.wait_for(lock, timeout, [&] { return done_; });
  }
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  // Written by the callback thread before the notify that the reader waits on.
  steady::time_point first() const { return first_; }
  steady::time_point last() const { return last_; }

 private:
  const std::uint64_t target_;
  std::atomic<std::uint64_t> count_{0};
  steady::time_point first_{};
  steady::time_point last_{};
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  std::string broker = "tcp://127.0.0.1:1883";
  std::string client_id = "communegw-bench-raw";
  std::string topic = "commune/+/+/+/+";
  int qos = 1;
  std::uint64_t count = 0;
  bool subscribe_only = false;
  int timeout_s = 600;
  int keepalive_s = 300;
  bool gateway_paho_settings = false;

  CLI::App app{"communegw-bench-raw-subscriber: a Paho C++ subscriber that only counts (the benchmark's floor)"};
  app.add_option("--broker", broker, "Broker URI")->capture_default_str();
  app.add_option("--client-id", client_id, "Fixed client id of the persistent session")->capture_default_str();
  app.add_option("--topic", topic, "Topic filter")->capture_default_str();
  app.add_option("--qos", qos, "Subscription QoS")->capture_default_str()->check(CLI::IsMember({0, 1}));
  app.add_option("--count", count, "Exit after this many messages")->check(CLI::PositiveNumber);
  app.add_flag("--subscribe-only", subscribe_only, "Connect, subscribe and disconnect, leaving the session at the broker");
  app.add_option("--timeout", timeout_s, "Give up after this many seconds")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--keepalive", keepalive_s, "MQTT keepalive, seconds (long: valgrind slows us down 50x)")
      ->capture_default_str()
      ->check(CLI::Range(5, 65535));
  app.add_flag("--gateway-paho-settings", gateway_paho_settings,
               "Apply the gateway's process-wide Paho settings (Paho's trace: errors only), for a like-for-like floor");
  CLI11_PARSE(app, argc, argv);
  if (gateway_paho_settings) communegw::paho::configure_process();
  if (!subscribe_only && count == 0) {
    std::cerr << "give --count N, or --subscribe-only\n";
    return 2;
  }

  message_counter counter(count);
  mqtt::async_client client(broker, client_id, mqtt::create_options(MQTTVERSION_3_1_1), nullptr);
  client.set_message_callback([&](mqtt::const_message_ptr) { counter.on_message(); });

  mqtt::connect_options options;
  options.set_clean_session(false);
  options.set_keep_alive_interval(std::chrono::seconds(keepalive_s));
  options.set_automatic_reconnect(false);

  const auto started = steady::now();
  try {
    client.connect(options)->wait();
    // The session may already hold the subscription; subscribing again is harmless
    // and makes a first run work too.
    client.subscribe(topic, qos)->wait();
  } catch (const mqtt::exception& error) {
    std::cerr << "raw-subscriber: cannot connect/subscribe to " << broker << ": " << error.what() << '\n';
    return 1;
  }
  if (subscribe_only) {
    client.disconnect()->wait();
    std::cout << "raw-subscriber: session " << client_id << " subscribed to " << topic << " at QoS " << qos << '\n';
    return 0;
  }

  const bool done = counter.wait(std::chrono::seconds(timeout_s));
  try {
    client.disconnect()->wait_for(std::chrono::seconds(5));
  } catch (const mqtt::exception&) {
    // Counting is over; a failed DISCONNECT changes nothing.
  }
  if (!done) {
    std::cerr << "raw-subscriber: timed out after " << timeout_s << " s with " << counter.count() << " of " << count
              << " messages\n";
    return 1;
  }
  const double connect_to_last = std::chrono::duration<double>(counter.last() - started).count();
  const double first_to_last = std::chrono::duration<double>(counter.last() - counter.first()).count();
  const double rate = static_cast<double>(count) / connect_to_last;
  std::printf("raw-subscriber: %llu messages in %.3f s from connect (%.3f s first to last) = %.0f msg/s\n",
              static_cast<unsigned long long>(count), connect_to_last, first_to_last, rate);
  std::printf("RESULT count=%llu connect_to_last_s=%.6f first_to_last_s=%.6f rate=%.1f\n",
              static_cast<unsigned long long>(count), connect_to_last, first_to_last, rate);
  return 0;
}
