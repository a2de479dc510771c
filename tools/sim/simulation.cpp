#include "tools/sim/simulation.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <queue>
#include <thread>

#include <fmt/format.h>

#include "gateway/model/json_text.hpp"
#include "gateway/model/timestamp.hpp"
#include "tools/sim/commune.hpp"
#include "tools/sim/hostile.hpp"
#include "tools/sim/sim_publisher.hpp"

namespace communegw {
namespace {

using steady = std::chrono::steady_clock;

// SIGINT/SIGTERM as a file descriptor, so the pacing wait doubles as the
// signal check and no global flag is needed. Blocks the two signals for this
// thread and every thread started after it (Paho's), restores them on exit.
class stop_signals {
 public:
  stop_signals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, &previous_);
    fd_ = ::signalfd(-1, &set_, SFD_CLOEXEC | SFD_NONBLOCK);
    // Without the descriptor, Ctrl-C must at least still end the process.
    if (fd_ < 0) pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  ~stop_signals() {
    if (fd_ >= 0) ::close(fd_);
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;

  // Waits up to `timeout` (zero: just looks); true once a stop was asked for.
  bool wait(std::chrono::nanoseconds timeout) {
    if (received_) return true;
    if (fd_ < 0) {
      if (timeout.count() > 0) std::this_thread::sleep_for(timeout);
      return false;
    }
    pollfd watch{fd_, POLLIN, 0};
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
    const timespec limit{static_cast<time_t>(seconds.count()), static_cast<long>((timeout - seconds).count())};
    if (::ppoll(&watch, 1, &limit, nullptr) > 0) {
      signalfd_siginfo info{};
      if (::read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        received_ = true;
        signal_ = static_cast<int>(info.ssi_signo);
      }
    }
    return received_;
  }
  int signal_number() const { return signal_; }

 private:
  sigset_t set_{};
  sigset_t previous_{};
  int fd_ = -1;
  bool received_ = false;
  int signal_ = 0;
};

struct run_tally {
  std::array<std::uint64_t, 3> valid_by_class{};
  std::array<std::uint64_t, hostile_kind_count> hostile_by_kind{};
  std::uint64_t messages = 0;
  std::uint64_t payload_bytes = 0;
  std::uint64_t topic_bytes = 0;
  // What the gateway should end up with (see hostile.hpp).
  std::uint64_t expected_stored = 0;
  std::uint64_t expected_rejected_messages = 0;
  std::uint64_t expected_field_rejections = 0;
  std::map<std::string, std::uint64_t> expected_rejected_by_reason;
};

std::string summary_json(const sim_settings& settings, const run_tally& tally, const publish_stats& published,
                         double elapsed_s, std::int64_t sim_end_ms, bool interrupted) {
  std::string out = "{\n";
  const auto field = [&](std::string_view key, const std::string& value, bool last = false) {
    out += "  ";
    append_json_string(out, key);
    out += ": " + value + (last ? "\n" : ",\n");
  };
  const auto text = [](std::string_view value) {
    std::string quoted;
    append_json_string(quoted, value);
    return quoted;
  };
  const auto object = [&](const auto& pairs) {
    std::string body = "{";
    bool first = true;
    for (const auto& [name, value] : pairs) {
      body += first ? "" : ", ";
      append_json_string(body, name);
      body += fmt::format(": {}", value);
      first = false;
    }
    return body + "}";
  };

  field("broker", text(settings.broker_uri));
  field("commune", text(settings.commune));
  field("mode", text(settings.bench_payload ? "bench-payload" : "commune"));
  field("qos", std::to_string(settings.qos));
  field("seed", std::to_string(settings.seed));
  field("seq_start", std::to_string(settings.seq_start));
  field("time_scale", fmt::format("{}", settings.time_scale));
  field("simulated_start", text(format_rfc3339_ms(settings.start_ms)));
  field("simulated_end", text(format_rfc3339_ms(sim_end_ms)));
  field("elapsed_s", fmt::format("{:.3f}", elapsed_s));
  field("interrupted", interrupted ? "true" : "false");
  field("messages", std::to_string(tally.messages));
  field("acknowledged", std::to_string(published.acknowledged));
  field("failed", std::to_string(published.failed));
  field("not_completed", std::to_string(published.handed_over - published.acknowledged - published.failed));
  field("rate_msg_per_s", fmt::format("{:.1f}", elapsed_s > 0 ? static_cast<double>(tally.messages) / elapsed_s : 0.0));
  field("backpressure_waits", std::to_string(published.backpressure_waits));
  field("payload_bytes", std::to_string(tally.payload_bytes));
  field("topic_bytes", std::to_string(tally.topic_bytes));
  std::vector<std::pair<std::string, std::uint64_t>> classes;
  for (const auto cls : {message_class::streetlight_status, message_class::env_telemetry, message_class::camera_event}) {
    classes.emplace_back(std::string(to_string(cls)), tally.valid_by_class[static_cast<std::size_t>(cls)]);
  }
  field("valid_by_class", object(classes));
  std::vector<std::pair<std::string, std::uint64_t>> kinds;
  std::uint64_t hostile_total = 0;
  for (std::size_t i = 0; i < hostile_kind_count; ++i) {
    kinds.emplace_back(std::string(to_string(static_cast<hostile_kind>(i))), tally.hostile_by_kind[i]);
    hostile_total += tally.hostile_by_kind[i];
  }
  field("hostile_total", std::to_string(hostile_total));
  field("hostile_by_kind", object(kinds));
  const std::vector<std::pair<std::string, std::uint64_t>> expected{
      {"stored_messages", tally.expected_stored},
      {"rejected_messages", tally.expected_rejected_messages},
      {"field_rejections", tally.expected_field_rejections}};
  field("expected_at_gateway", object(expected));
  field("expected_rejected_by_reason", object(tally.expected_rejected_by_reason), true);
  out += "}\n";
  return out;
}

// Which device speaks next, and when, in real time.
class pacer {
 public:
  pacer(const sim_settings& settings, commune_model& model, steady::time_point started)
      : settings_(settings), model_(model), started_(started) {
    if (!settings.rate) {
      for (std::size_t i = 0; i < model.device_count(); ++i) schedule_.push({model.first_due_ms(i, settings.start_ms), i});
    }
  }

  struct turn {
    std::size_t device;
    steady::time_point at;   // when to publish it
    std::int64_t sim_ms;     // simulated time stamped on it
  };

  turn next() {
    if (settings_.rate) {
      // A fixed total rate: devices take turns, the simulated clock follows the real one.
      const std::size_t device = round_robin_;
      round_robin_ = (round_robin_ + 1) % model_.device_count();
      auto at = started_;
      if (*settings_.rate > 0) {
        at += std::chrono::duration_cast<steady::duration>(
            std::chrono::duration<double>(static_cast<double>(sent_++) / *settings_.rate));
      }
      const auto real_elapsed = std::chrono::duration<double>(std::max(at, steady::now()) - started_).count();
      return {device, at, settings_.start_ms + static_cast<std::int64_t>(real_elapsed * settings_.time_scale * 1000.0)};
    }
    // Each device in its own rhythm, in simulated time.
    const auto [due_ms, device] = schedule_.top();
    schedule_.pop();
    schedule_.push({model_.next_due_ms(device, due_ms), device});
    const double real_s = static_cast<double>(due_ms - settings_.start_ms) / 1000.0 / settings_.time_scale;
    return {device, started_ + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(real_s)), due_ms};
  }

 private:
  using entry = std::pair<std::int64_t, std::size_t>;  // due simulated ms, device
  const sim_settings& settings_;
  commune_model& model_;
  steady::time_point started_;
  std::priority_queue<entry, std::vector<entry>, std::greater<>> schedule_;
  std::size_t round_robin_ = 0;  // the next device: an index, so it fits size_t on 32-bit targets too
  std::uint64_t sent_ = 0;
};

}  // namespace

int run_simulation(const sim_settings& settings) {
  stop_signals stop;  // before Paho starts its threads, so they inherit the blocked mask

  commune_layout layout{settings.commune, settings.streetlights, settings.env_stations, settings.cameras};
  if (settings.bench_payload) layout.streetlights = layout.cameras = 0;
  commune_model model(layout, settings.seed, settings.seq_start);
  std::bernoulli_distribution hostile(settings.malformed_ratio);

  sim_publisher publisher(settings);
  try {
    publisher.connect();
  } catch (const publish_error& error) {
    std::cerr << "communegw-sim: " << error.what() << '\n';
    return 1;
  }
  if (!settings.quiet) {
    std::cerr << fmt::format("communegw-sim: connected to {} as {}; {} devices in {}, simulated time from {}, x{}\n",
                             settings.broker_uri, settings.client_id, model.device_count(), settings.commune,
                             format_rfc3339_ms(settings.start_ms), settings.time_scale);
  }

  run_tally tally;
  const auto started = steady::now();
  const auto deadline = settings.duration_s > 0
                            ? started + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(settings.duration_s))
                            : steady::time_point::max();
  pacer schedule(settings, model, started);
  auto next_progress = started + std::chrono::seconds(5);
  std::int64_t sim_now_ms = settings.start_ms;
  std::string failure;

  try {
    while (settings.count == 0 || tally.messages < settings.count) {
      const auto turn = schedule.next();
      if (turn.at > deadline) break;
      const auto now = steady::now();
      if (turn.at > now) {
        if (stop.wait(turn.at - now)) break;
      } else if ((tally.messages & 0xff) == 0 && stop.wait(std::chrono::nanoseconds(0))) {
        break;
      }
      if (steady::now() >= deadline) break;

      sim_now_ms = turn.sim_ms;
      sim_message message = settings.bench_payload
                                ? model.bench_message(turn.device, turn.sim_ms, settings.bench_bytes)
                                : model.next(turn.device, turn.sim_ms);
      if (settings.malformed_ratio > 0 && hostile(model.random())) {
        const auto kind = pick_hostile_kind(model.random());
        const auto expected = expected_outcome(kind, message.cls);
        message = make_hostile(std::move(message), kind, model.random());
        ++tally.hostile_by_kind[static_cast<std::size_t>(kind)];
        ++tally.expected_rejected_by_reason[std::string(expected.reject_reason)];
        if (expected.message_stored) {
          ++tally.expected_stored;
          ++tally.expected_field_rejections;
        } else {
          ++tally.expected_rejected_messages;
        }
      } else {
        ++tally.valid_by_class[static_cast<std::size_t>(message.cls)];
        ++tally.expected_stored;
      }
      publisher.publish(message.topic, message.payload);
      ++tally.messages;
      tally.payload_bytes += message.payload.size();
      tally.topic_bytes += message.topic.size();

      if (!settings.quiet && steady::now() >= next_progress) {
        next_progress += std::chrono::seconds(5);
        const double elapsed = std::chrono::duration<double>(steady::now() - started).count();
        std::cerr << fmt::format("communegw-sim: {} messages in {:.0f} s ({:.0f}/s), simulated {}\n", tally.messages, elapsed,
                                 static_cast<double>(tally.messages) / elapsed, format_rfc3339_ms(sim_now_ms));
      }
    }
  } catch (const publish_error& error) {
    failure = error.what();
  }

  const bool all_done = publisher.drain(std::chrono::seconds(60));
  const double elapsed_s = std::chrono::duration<double>(steady::now() - started).count();
  publisher.disconnect();
  const auto& published = publisher.stats();
  const bool interrupted = stop.wait(std::chrono::nanoseconds(0));

  if (!settings.summary_json.empty()) {
    std::ofstream file(settings.summary_json, std::ios::trunc);
    file << summary_json(settings, tally, published, elapsed_s, sim_now_ms, interrupted);
    if (!file) {
      std::cerr << fmt::format("communegw-sim: cannot write the summary to {}: {}\n", settings.summary_json, std::strerror(errno));
      return 1;
    }
  }
  if (!settings.quiet) {
    std::uint64_t hostile_total = 0;
    for (const auto n : tally.hostile_by_kind) hostile_total += n;
    std::cerr << fmt::format(
        "communegw-sim: published {} messages ({} hostile, {} payload bytes) in {:.2f} s = {:.0f} msg/s; "
        "acknowledged {}, failed {}; expect the gateway to store {} and reject {}{}\n",
        tally.messages, hostile_total, tally.payload_bytes, elapsed_s,
        elapsed_s > 0 ? static_cast<double>(tally.messages) / elapsed_s : 0.0, published.acknowledged, published.failed,
        tally.expected_stored, tally.expected_rejected_messages, interrupted ? " (interrupted)" : "");
  }
  if (!failure.empty()) {
    std::cerr << "communegw-sim: " << failure << '\n';
    return 1;
  }
  if (!all_done || published.failed > 0) {
    std::cerr << fmt::format("communegw-sim: {} messages were not acknowledged by the broker\n",
                             published.handed_over - published.acknowledged);
    return 1;
  }
  return 0;
}

}  // namespace communegw
