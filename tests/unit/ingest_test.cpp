#include <doctest/doctest.h>

#include <thread>

#include "gateway/ingest/ingest.hpp"
#include "gateway/ingest/ingest_queue.hpp"

using namespace communegw;

TEST_CASE("MQTT topic filters match as the specification says") {
  CHECK(topic_matches("commune/+/+/+/+", "commune/c/env/e-1/telemetry"));
  CHECK_FALSE(topic_matches("commune/+/+/+/+", "commune/c/env/e-1"));
  CHECK_FALSE(topic_matches("commune/+/+/+/+", "commune/c/env/e-1/telemetry/x"));
  CHECK(topic_matches("commune/#", "commune/c/env/e-1/telemetry"));
  CHECK(topic_matches("commune/#", "commune"));
  CHECK(topic_matches("#", "anything/at/all"));
  CHECK_FALSE(topic_matches("#", "$SYS/broker/uptime"));
  CHECK(topic_matches("a/+/c", "a//c"));
  CHECK_FALSE(topic_matches("a/b", "a/b/c"));
  CHECK_FALSE(topic_matches("a/b/c", "a/b"));
}

TEST_CASE("ingest checks size, routes by topic and stamps every message") {
  auto cfg = parse_config("[gateway]\nid = \"g\"\nprovince = \"p\"\ncommune = \"c\"\n[mqtt]\nmax_payload = \"64B\"\n", "/x.toml");
  manual_clock clock(1'795'403'100'000, false);
  ingest in(cfg, clock);
  CHECK(in.topic_filters() == std::vector<std::string>{"commune/+/+/+/+"});

  auto good = in.accept("commune/c/env/e-1/telemetry", R"({"pm2_5":3})", true);
  REQUIRE(std::holds_alternative<decoded_message>(good.result));
  CHECK(good.received.wall_ms == 1'795'403'100'000);
  CHECK_FALSE(good.received.trusted);
  CHECK(good.redelivered);
  CHECK(good.payload_excerpt.empty());  // nothing to quarantine

  const std::string big(65, '{');
  auto oversized = in.accept("commune/c/env/e-1/telemetry", big, false);
  REQUIRE(std::holds_alternative<rejection>(oversized.result));
  CHECK(std::get<rejection>(oversized.result).reason == reject_reason::oversized_payload);
  CHECK(oversized.payload_excerpt == big);
  CHECK(oversized.payload_size == 65);

  auto stray = in.accept("elsewhere/x", "{}", false);
  CHECK(std::get<rejection>(stray.result).reason == reject_reason::unknown_topic);

  CHECK(in.counters().received == 3);
  CHECK(in.counters().accepted == 1);
  CHECK(in.counters().rejected[static_cast<std::size_t>(reject_reason::oversized_payload)] == 1);
  CHECK(in.counters().rejected[static_cast<std::size_t>(reject_reason::unknown_topic)] == 1);
}

TEST_CASE("the ack rule: an idle writer means wait for this very commit; under load, at most max_uncommitted ahead") {
  ingest_queue queue(3);
  std::atomic<int> returned{0};
  auto push = [&] {
    queue.push_and_wait(received_message{});
    returned.fetch_add(1);
  };
  // Writer idle: the first push must not return before it is committed.
  std::thread first(push);
  std::vector<received_message> batch;
  bool closed = false;
  std::uint64_t ticket = 0;
  while (ticket == 0) ticket = queue.pop_batch(batch, 10, std::chrono::milliseconds(50), closed);
  CHECK(ticket == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(returned == 0);
  // While the writer holds message 1 it is busy: tickets up to committed (0) + 3 may return.
  std::thread second(push), third(push);
  while (queue.uncommitted() < 3) std::this_thread::yield();
  while (returned < 2) std::this_thread::yield();
  CHECK(returned == 2);  // messages 2 and 3 returned (1 still waits for its commit)
  std::thread fourth(push);
  while (queue.uncommitted() < 4) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(returned == 2);  // ticket 4 > 0 committed + 3: it waits
  queue.mark_committed(1, true);
  first.join();
  while (returned < 4) std::this_thread::yield();
  CHECK(returned == 4);
  second.join();
  third.join();
  fourth.join();
  batch.clear();
  CHECK(queue.pop_batch(batch, 10, std::chrono::milliseconds(0), closed) == 4);
  CHECK(batch.size() == 3);
  queue.close();
  batch.clear();
  queue.pop_batch(batch, 10, std::chrono::milliseconds(0), closed);
  CHECK(closed);
}
