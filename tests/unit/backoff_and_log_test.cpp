// The two fault-loop helpers: reconnect backoff and rate-limited log lines.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <sstream>
#include <thread>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "gateway/log/rate_limited_log.hpp"
#include "gateway/mqtt/backoff.hpp"

using namespace communegw;
using namespace std::chrono_literals;

TEST_CASE("reconnect backoff doubles from min to max with +-20 % jitter, never stops, and starts over on reset") {
  backoff delays(1s, 60s);
  auto within = [](std::chrono::milliseconds delay, std::chrono::milliseconds step) {
    return delay >= step * 8 / 10 && delay <= step * 12 / 10;
  };
  std::chrono::milliseconds step = 1s;
  for (int attempt = 0; attempt < 7; ++attempt) {  // 1, 2, 4 ... 32 s, then 60 s
    const auto delay = delays.next();
    CHECK(within(delay, step));
    step = std::min<std::chrono::milliseconds>(step * 2, 60s);
  }
  // Days of outage: always a delay, always about max.
  bool all_capped = true;
  for (int attempt = 0; attempt < 10'000; ++attempt) all_capped = all_capped && within(delays.next(), 60s);
  CHECK(all_capped);
  delays.reset();
  CHECK(within(delays.next(), 1s));
  // Jitter: a fleet restarting together does not reconnect in lock-step.
  bool differs = false;
  for (int attempt = 0; attempt < 20 && !differs; ++attempt) {
    backoff a(10s, 60s), b(10s, 60s);
    differs = a.next() != b.next();
  }
  CHECK(differs);
}

TEST_CASE("a log line repeated in a fault loop is written once per interval, then says how often it repeated") {
  std::ostringstream captured;
  auto logger = std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(captured));
  logger->set_pattern("%v");
  const auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);

  rate_limited_log line(1s);
  for (int i = 1; i <= 5; ++i) line.log(spdlog::level::err, "store: disk full (attempt {})", i);
  std::this_thread::sleep_for(1100ms);
  line.log(spdlog::level::err, "store: disk full (attempt {})", 6);

  spdlog::set_default_logger(previous);
  CHECK(captured.str() ==
        "store: disk full (attempt 1)\n"
        "store: disk full (attempt 6)\n"
        "(the previous message repeated 4 more times)\n");
}
