#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "gateway/ingest/ingest.hpp"
#include "gateway/ingest/ingest_queue.hpp"
#include "gateway/model/received_message.hpp"

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
  // Views without storage (data() may be null): no crash, and "" matches "".
  CHECK(topic_matches(std::string_view{}, std::string_view{}));
  CHECK_FALSE(topic_matches("a/#", std::string_view{}));
  CHECK(topic_matches("+", std::string_view{}));
}

TEST_CASE("topic matching agrees with a level-by-level reference on every short filter and topic") {
  // The reference: split both at '/', compare level by level (MQTT 3.1.1 section 4.7).
  const auto split = [](std::string_view text) {
    std::vector<std::string_view> levels;
    for (std::size_t start = 0;;) {
      const auto slash = text.find('/', start);
      levels.push_back(text.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
      if (slash == std::string_view::npos) return levels;
      start = slash + 1;
    }
  };
  const auto reference = [&](std::string_view filter, std::string_view topic) {
    if (!topic.empty() && topic.front() == '$' && !filter.empty() && (filter.front() == '+' || filter.front() == '#')) {
      return false;
    }
    const auto f = split(filter);
    const auto t = split(topic);
    for (std::size_t i = 0; i < f.size(); ++i) {
      if (f[i] == "#") return true;  // this level and all below, the parent level too
      if (i == t.size()) return false;
      if (f[i] != "+" && f[i] != t[i]) return false;
    }
    return f.size() == t.size();
  };
  // A valid filter has '+' and '#' only as whole levels, and '#' only last.
  const auto valid_filter = [&](std::string_view filter) {
    const auto f = split(filter);
    for (std::size_t i = 0; i < f.size(); ++i) {
      if (f[i].find_first_of("+#") != std::string_view::npos && f[i].size() != 1) return false;
      if (f[i] == "#" && i + 1 != f.size()) return false;
    }
    return true;
  };
  // Every string of up to 4 characters over this alphabet, as filter and as topic.
  const std::string alphabet = "ab/+#$";
  std::vector<std::string> texts{""};
  for (std::size_t begin = 0, length = 1; length <= 4; ++length) {
    const std::size_t end = texts.size();
    for (std::size_t i = begin; i < end; ++i) {
      for (const char c : alphabet) texts.push_back(texts[i] + c);
    }
    begin = end;
  }
  std::size_t matches = 0;
  for (const auto& filter : texts) {
    for (const auto& topic : texts) {
      // Only valid filters, and topics without wildcards.
      if (!valid_filter(filter) || topic.find_first_of("+#") != std::string::npos) continue;
      const bool expected = reference(filter, topic);
      if (topic_matches(filter, topic) != expected) FAIL_CHECK("filter \"" << filter << "\" topic \"" << topic << "\"");
      matches += expected ? 1 : 0;
    }
  }
  CHECK(matches > 1000);  // the cases are not all misses
}

TEST_CASE("a message's identity is FNV-1a over topic, NUL, payload - stored identities never change") {
  // The plain byte loop, as stores written by earlier versions computed it.
  const auto reference = [](std::string_view topic, std::string_view payload) {
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    std::string bytes(topic);
    bytes += '\0';
    bytes += payload;
    for (const char c : bytes) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 0x100000001b3ULL;
    }
    return hash == 0 ? 1 : hash;
  };
  // Every length around the eight-byte steps, and bytes above 0x7f (char may be signed).
  std::string payload;
  for (int length = 0; length <= 40; ++length) {
    CAPTURE(length);
    CHECK(message_identity("commune/c/env/e-1/telemetry", payload) ==
          reference("commune/c/env/e-1/telemetry", payload));
    CHECK(message_identity(payload, "{}") == reference(payload, "{}"));
    payload += static_cast<char>(length % 3 == 0 ? 0xe1 : 'a' + length);
  }
  CHECK(message_identity("", "a") == 0x08326707b4eb37daULL);  // FNV-1a 64 of "\0a", computed in Python
  CHECK(message_identity("a/b", "c") != message_identity("a/", "bc"));
}

TEST_CASE("XXH64 matches the reference implementation, and new stores' identities use it") {
  // Values from libxxhash 0.8.1 (XXH64 through Python ctypes), including its published ones.
  CHECK(xxh64("", 0) == 0xef46db3751d8e999ULL);
  CHECK(xxh64("a", 0) == 0xd24ec4f1a98c6e5bULL);
  CHECK(xxh64("abc", 0) == 0x44bc2cf5ad770999ULL);
  // Every length 0 … 100 (below, at and past the 32-byte stripes, the 8- and 4-byte
  // tails), bytes above 0x7f, a seed: folded into one value computed the same way.
  std::string data;
  for (int i = 0; i < 100; ++i) data += static_cast<char>((i * 37 + 11) & 0xff);
  std::uint64_t folded = 0;
  for (std::size_t n = 0; n <= 100; ++n) folded ^= xxh64(std::string_view(data).substr(0, n), 42) * (n + 1);
  CHECK(folded == 0xf7e73b44b16d5e75ULL);

  const std::string_view topic = "commune/c/env/e-1/telemetry";
  const std::string_view payload = R"({"v":1,"seq":7})";
  CHECK(message_identity(identity_scheme::xxh64, topic, payload) == 0xdbe246473c0b3edeULL);
  CHECK(message_identity(identity_scheme::xxh64, "a/b", "c") != message_identity(identity_scheme::xxh64, "a/", "bc"));
  CHECK(message_identity(identity_scheme::xxh64, topic, payload) != message_identity(topic, payload));
  // identify() uses the scheme it is given (the store's), unless the driver has a protocol key.
  decoded_message decoded;
  decoded.sequence = 7;
  CHECK(identify(decoded, topic, payload, identity_scheme::fnv1a_64).identity == message_identity(topic, payload));
  CHECK(identify(decoded, topic, payload).identity == message_identity(identity_scheme::xxh64, topic, payload));
  decoded.identity = 99;
  CHECK(identify(decoded, topic, payload, identity_scheme::xxh64).identity == 99);
}

namespace {

// The least config that loads, with this mqtt.max_payload.
config with_max_payload(const std::string& limit) {
  return parse_config(
      "[gateway]\nid = \"g\"\nprovince = \"p\"\ncommune = \"c\"\n[mqtt]\nmax_payload = \"" + limit + "\"\n", "/x.toml");
}

}  // namespace

TEST_CASE("a driver that throws costs its message a rejection, never the process or the next message") {
  // A driver must not throw (drivers/driver.hpp); ingest survives one that does.
  struct throwing_driver final : driver {
    decode_result decode(std::string_view, std::string_view payload) override {
      if (payload == "boom") throw std::runtime_error("decoder bug");
      decoded_message ok;
      ok.device_id = "d-1";
      ok.sequence = 1;
      return ok;
    }
  };
  std::vector<ingest::routed_driver> drivers;
  drivers.push_back({std::make_unique<throwing_driver>(), {"t/#"}});
  manual_clock clock(1'795'403'100'000, true);
  ingest decoder(std::move(drivers), 1024, clock);
  // Into one reused slot, as the writer's batch holds them: first a good result, then the throw.
  received_message slot;
  decoder.accept(inbound_message{.topic = "t/a", .payload = "fine", .received = clock.now(), .flags = {}}, slot);
  REQUIRE(std::holds_alternative<decoded_message>(slot.result));
  decoder.accept(inbound_message{.topic = "t/a", .payload = "boom", .received = clock.now(), .flags = {}}, slot);
  const auto* why = std::get_if<rejection>(&slot.result);
  REQUIRE(why);
  CHECK(why->reason == reject_reason::driver_error);
  CHECK(why->detail == "driver error: decoder bug");
  CHECK(slot.payload_excerpt == "boom");
  CHECK(decoder.counters().driver_exceptions == 1);
  // The next message decodes normally.
  const auto next = decoder.accept("t/b", "fine");
  REQUIRE(std::holds_alternative<decoded_message>(next.result));
  CHECK(std::get<decoded_message>(next.result).device_id == "d-1");
}

TEST_CASE("ingest checks size, routes by topic and stamps every message") {
  const auto cfg = with_max_payload("64B");
  manual_clock clock(1'795'403'100'000, false);
  ingest in(cfg, clock);
  CHECK(in.topic_filters() == std::vector<std::string>{"commune/+/+/+/+"});

  auto good = in.accept("commune/c/env/e-1/telemetry", R"({"pm2_5":3})", {.redelivered = true});
  REQUIRE(std::holds_alternative<decoded_message>(good.result));
  CHECK(good.received.wall_ms == 1'795'403'100'000);
  CHECK_FALSE(good.received.trusted);
  CHECK(good.redelivered);
  CHECK(good.payload_excerpt.empty());  // nothing to quarantine

  const std::string big(65, '{');
  auto oversized = in.accept("commune/c/env/e-1/telemetry", big);
  REQUIRE(std::holds_alternative<rejection>(oversized.result));
  CHECK(std::get<rejection>(oversized.result).reason == reject_reason::oversized_payload);
  CHECK(oversized.payload_excerpt == big);
  CHECK(oversized.payload_size == 65);

  auto stray = in.accept("elsewhere/x", "{}");
  CHECK(std::get<rejection>(stray.result).reason == reject_reason::unknown_topic);

  CHECK(in.counters().received == 3);
  CHECK(in.counters().accepted == 1);
  CHECK(in.counters().rejected[static_cast<std::size_t>(reject_reason::oversized_payload)] == 1);
  CHECK(in.counters().rejected[static_cast<std::size_t>(reject_reason::unknown_topic)] == 1);
}

TEST_CASE("an oversized payload travels as its excerpt and is refused by its size on the wire") {
  manual_clock clock(1'795'403'100'000, true);
  const auto cfg = with_max_payload("1KiB");
  ingest in(cfg, clock);
  // What the MQTT thread queues of a payload: {bytes kept, bytes left out}.
  const auto queued_part = [](const ingest& limit, const std::string& payload) {
    inbound_message message{.topic = "commune/c/env/e-1/telemetry", .payload = payload};
    limit.trim_oversized(message);
    REQUIRE(message.payload == std::string_view(payload).substr(0, message.payload.size()));
    return std::pair{message.payload.size(), message.payload_bytes_left_out};
  };
  CHECK(queued_part(in, std::string(1024, ' ')) == std::pair<std::size_t, std::size_t>{1024, 0});  // at the limit
  // 5 MB: the excerpt and the count of the rest.
  const std::string wire(5'000'000, '{');
  CHECK(queued_part(in, wire) == std::pair{quarantine_excerpt_bytes, 5'000'000 - quarantine_excerpt_bytes});
  inbound_message big{.topic = "commune/c/env/e-1/telemetry", .payload = wire, .received = clock.now()};
  in.trim_oversized(big);
  const std::string excerpt = wire.substr(0, quarantine_excerpt_bytes);
  ingest_queue queue(10);
  REQUIRE(queue.push_and_wait(big));
  queued_batch taken;
  bool closed = false;
  REQUIRE(queue.pop_batch(taken, 10, std::chrono::milliseconds(0), closed) != 0);
  REQUIRE(taken.size() == 1);
  CHECK(taken[0].payload_bytes_left_out == 5'000'000 - excerpt.size());
  received_message slot;
  in.accept(taken[0], slot);
  const auto* why = std::get_if<rejection>(&slot.result);
  REQUIRE(why);
  CHECK(why->reason == reject_reason::oversized_payload);
  CHECK(why->detail == "5000000 bytes is over mqtt.max_payload (1024)");
  CHECK(slot.payload_size == 5'000'000);
  CHECK(slot.payload_excerpt == excerpt);
  CHECK(in.counters().rejected[static_cast<std::size_t>(reject_reason::oversized_payload)] == 1);

  // A limit below the excerpt's size: the whole payload is kept, and still refused.
  const auto strict_cfg = with_max_payload("64B");
  ingest strict(strict_cfg, clock);
  const std::string hundred(100, '{');
  CHECK(queued_part(strict, hundred) == std::pair<std::size_t, std::size_t>{100, 0});
  inbound_message over{.topic = "commune/c/env/e-1/telemetry", .payload = hundred};
  received_message refused;
  strict.accept(over, refused);
  REQUIRE(std::holds_alternative<rejection>(refused.result));
  CHECK(std::get<rejection>(refused.result).reason == reject_reason::oversized_payload);
}

TEST_CASE("a message keeps the time it arrived, not the time it was decoded") {
  auto cfg = parse_config("[gateway]\nid = \"g\"\nprovince = \"p\"\ncommune = \"c\"\n", "/x.toml");
  manual_clock clock(1'795'403'100'000, true);
  ingest in(cfg, clock);
  // Stamped on arrival (the MQTT callback); decoded later on the writer thread.
  const time_stamp arrived{1'795'403'000'000, 42, false};
  const inbound_message message{.topic = "commune/c/env/e-1/telemetry",
                                .payload = R"({"pm2_5":3})",
                                .received = arrived,
                                .flags = {.retained = true}};
  clock.advance_ms(5000);
  const auto out = in.accept(message);
  REQUIRE(std::holds_alternative<decoded_message>(out.result));
  CHECK(out.received.wall_ms == arrived.wall_ms);
  CHECK(out.received.monotonic_ms == 42);
  CHECK_FALSE(out.received.trusted);
  CHECK(out.retained);
  CHECK_FALSE(out.redelivered);
  CHECK(out.topic == "commune/c/env/e-1/telemetry");
  CHECK(out.payload_size == 11);
}

TEST_CASE("large payloads: the queue keeps their message instead of a copy, and holds callbacks back by bytes") {
  ingest_queue queue(100);
  // Each large payload is owned by its "MQTT message": alive until the queue lets go.
  const std::size_t large = ingest_queue::max_large_uncommitted_bytes / 2 + 1;  // two of them are over the bound
  std::vector<std::weak_ptr<const std::string>> watch;
  std::atomic<int> returned{0};
  auto push = [&](int i) {
    auto message = std::make_shared<const std::string>(large, static_cast<char>('a' + i));
    watch.push_back(message);
    queue.push_and_wait(inbound_message{.topic = "t/" + std::to_string(i), .payload = *message, .owner = message});
    returned.fetch_add(1);
  };
  push(0);  // the oldest uncommitted: returns whatever its size
  CHECK(returned == 1);
  std::thread second([&] { push(1); });
  while (queue.uncommitted() < 2) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(returned == 1);  // 2 x (bound / 2 + 1) bytes uncommitted: held back although max_uncommitted is 100
  queued_batch batch;
  bool closed = false;
  CHECK(queue.pop_batch(batch, 10, std::chrono::milliseconds(0), closed) == 2);
  REQUIRE(batch.size() == 2);
  CHECK(batch[0].topic == "t/0");
  CHECK(batch[0].payload.size() == large);
  CHECK(batch[1].payload.front() == 'b');
  queue.mark_committed(1);
  second.join();
  CHECK(returned == 2);
  // The batch still holds both messages; the writer's next take lets go of them.
  CHECK_FALSE(watch[0].expired());
  queue.pop_batch(batch, 10, std::chrono::milliseconds(0), closed);
  CHECK(watch[0].expired());
  CHECK(watch[1].expired());
}

TEST_CASE("the ack rule: a callback returns only while at most max_uncommitted messages are ahead of the last commit") {
  ingest_queue queue(2);
  std::atomic<int> returned{0};
  auto push = [&] {
    queue.push_and_wait(inbound_message{});
    returned.fetch_add(1);
  };
  // Nothing committed yet: tickets 1 and 2 may return, ticket 3 must wait.
  std::thread first(push), second(push);
  first.join();
  second.join();
  CHECK(returned == 2);
  std::thread third(push);
  while (queue.uncommitted() < 3) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(returned == 2);
  // The writer takes the batch and commits it: the third one is released.
  queued_batch batch;
  bool closed = false;
  CHECK(queue.pop_batch(batch, 10, std::chrono::milliseconds(0), closed) == 3);
  CHECK(batch.size() == 3);
  queue.mark_committed(1);
  third.join();
  CHECK(returned == 3);
  queue.close();
  queue.pop_batch(batch, 10, std::chrono::milliseconds(0), closed);
  CHECK(closed);
}

TEST_CASE("the queue keeps its own copy of each message - what the writer takes stays valid until its next take") {
  ingest_queue queue(100);
  std::string topic, payload;  // the MQTT client's buffers, reused for every message
  for (int i = 0; i < 5; ++i) {
    topic = fmt::format("commune/c/env/e-{}/telemetry", i);
    payload = fmt::format(R"({{"seq":{},"pm2_5":{}}})", i, i * 10);
    REQUIRE(queue.push_and_wait(inbound_message{
        .topic = topic, .payload = payload, .received = {1000 + i, i, true}, .flags = {.redelivered = i == 3}}));
  }
  topic.assign(64, 'x');
  payload.assign(64, 'y');
  queued_batch first, second;
  bool closed = false;
  // Two of five: the other three stay queued, their bytes intact.
  CHECK(queue.pop_batch(first, 2, std::chrono::milliseconds(0), closed) == 2);
  REQUIRE(queue.push_and_wait(inbound_message{.topic = "commune/c/env/e-5/telemetry", .payload = "{}"}));
  CHECK(queue.pop_batch(second, 10, std::chrono::milliseconds(0), closed) == 6);
  REQUIRE(first.size() == 2);
  REQUIRE(second.size() == 4);
  for (int i = 0; i < 5; ++i) {
    const auto m = i < 2 ? first[static_cast<std::size_t>(i)] : second[static_cast<std::size_t>(i - 2)];
    CHECK(m.topic == fmt::format("commune/c/env/e-{}/telemetry", i));
    CHECK(m.payload == fmt::format(R"({{"seq":{},"pm2_5":{}}})", i, i * 10));
    CHECK(m.received.wall_ms == 1000 + i);
    CHECK(m.flags.redelivered == (i == 3));
  }
  CHECK(second[3].topic == "commune/c/env/e-5/telemetry");
  CHECK(second[3].payload == "{}");
  // A new take into a batch replaces what it held; the other batch is untouched.
  REQUIRE(queue.push_and_wait(inbound_message{.topic = "commune/c/env/e-6/telemetry", .payload = R"({"seq":6})"}));
  CHECK(queue.pop_batch(first, 10, std::chrono::milliseconds(0), closed) == 7);
  REQUIRE(first.size() == 1);
  CHECK(first[0].payload == R"({"seq":6})");
  CHECK(second[0].payload == R"({"seq":2,"pm2_5":20})");
  // Nothing queued: the batch comes back empty.
  CHECK(queue.pop_batch(first, 10, std::chrono::milliseconds(0), closed) == 0);
  CHECK(first.empty());
}

TEST_CASE("max_uncommitted = 0: nothing returns before its own commit") {
  ingest_queue queue(0);
  std::atomic<bool> returned{false};
  std::thread pusher([&] {
    queue.push_and_wait(inbound_message{});
    returned = true;
  });
  queued_batch batch;
  bool closed = false;
  std::uint64_t ticket = 0;
  while (ticket == 0) ticket = queue.pop_batch(batch, 10, std::chrono::milliseconds(50), closed);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(returned);
  queue.mark_committed(ticket);
  pusher.join();
  CHECK(returned);
}

TEST_CASE("an abandoned queue releases waiting callbacks with 'not stored'") {
  ingest_queue queue(0);
  std::atomic<int> result{-1};
  std::thread pusher([&] { result = queue.push_and_wait(inbound_message{}) ? 1 : 0; });
  while (queue.uncommitted() < 1) std::this_thread::yield();
  queue.abandon();
  pusher.join();
  CHECK(result == 0);
}
