#include "gateway/uplink/uplink_service.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "gateway/model/json_text.hpp"
#include "gateway/mqtt/broker_subscriber.hpp"
#include "gateway/mqtt/connection_diagnosis.hpp"
#include "gateway/uplink/wire.hpp"

namespace communegw {
namespace {

constexpr std::int64_t fold_limit = 20'000;        // message rows per aggregation pass
constexpr std::int64_t feed_limit = 5'000;         // records queued per pass and producer
// Events and alarms enter the outbox at this pace: it bounds their added latency.
constexpr auto tick_interval = std::chrono::milliseconds(250);
// How long a stream waits after the central broker refused one of its batches.
constexpr auto refused_retry_delay = std::chrono::seconds(30);

std::string status_payload(std::string_view state, std::int64_t now_ms) {
  return fmt::format("{{\"state\":\"{}\",\"t_ms\":{},\"protocol\":{}}}", state, now_ms, uplink_protocol_version);
}

}  // namespace

// Paho calls it on its own thread; it only forwards to the service thread.
class uplink_service::delivery_listener final : public mqtt::iaction_listener {
 public:
  delivery_listener(boost::asio::io_context& io, uplink_service& service, std::uint64_t batch_id)
      : io_(io), service_(service), batch_id_(batch_id) {}
  void on_success(const mqtt::token&) override { forward(true, 0); }
  // MQTT 5: also a PUBACK whose reason code says the broker refused the batch.
  void on_failure(const mqtt::token& tok) override { forward(false, tok.get_reason_code()); }

 private:
  void forward(bool ok, int reason_code) {
    auto* service = &service_;
    const auto id = batch_id_;
    boost::asio::post(io_, [service, id, ok, reason_code] { service->on_delivered(id, ok, reason_code); });
  }
  boost::asio::io_context& io_;
  uplink_service& service_;
  std::uint64_t batch_id_;
};

uplink_service::uplink_service(const config& cfg, clock& time_source, std::function<std::string()> health_fields)
    : cfg_(cfg),
      clock_(time_source),
      health_fields_(std::move(health_fields)),
      db_(cfg.store.path, SQLITE_OPEN_READWRITE),
      restamper_(db_, time_source.boot_id()),
      aggregator_(db_, cfg.aggregate,
                  cfg.uplink.enabled ? cfg.uplink.aggregate_periods : std::vector<std::chrono::milliseconds>{}),
      tick_timer_(io_),
      reconnect_timer_(io_),
      backoff_(cfg.uplink.broker.reconnect_min, cfg.uplink.broker.reconnect_max) {
  // The store opened the file and chose WAL; this connection only needs the
  // same durability setting for its own commits.
  db_.exec(cfg.store.synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
  if (!cfg_.uplink.enabled) return;
  outbox_.emplace(db_, cfg.aggregate);
  if (!cfg_.uplink.raw_metrics.empty()) {
    raw_metrics_json_ = "[";
    for (const auto& metric : cfg_.uplink.raw_metrics) {
      if (raw_metrics_json_.size() > 1) raw_metrics_json_ += ',';
      append_json_string(raw_metrics_json_, metric);
    }
    raw_metrics_json_ += ']';
  }

  const auto& broker = cfg_.uplink.broker;
  client_ = std::make_unique<mqtt::async_client>(normalised_uri(broker.uri), broker.client_id,
                                                 make_create_options(broker), nullptr);
  // Clean session: the outbox is our persistence. After a reconnect every
  // unacknowledged batch is sent again from it; the centre drops copies.
  connect_options_ = make_connect_options(broker, /*clean_session=*/true);
  connect_options_.set_will(mqtt::will_options(uplink_topic(cfg_.gateway, "status"),
                                               status_payload("offline", 0), 1, /*retained=*/true));
  client_->set_connected_handler([this](const std::string&) { boost::asio::post(io_, [this] { on_connected(); }); });
  client_->set_connection_lost_handler([this](const std::string& cause) {
    boost::asio::post(io_, [this, cause] { on_connection_lost(cause); });
  });
}

uplink_service::~uplink_service() { stop(); }

void uplink_service::start() {
  started_ = std::chrono::steady_clock::now();
  next_health_ = started_;
  rate_refilled_ = started_;
  thread_ = std::thread([this] {
    if (client_) boost::asio::post(io_, [this] { connect(); });
    schedule_tick(std::chrono::milliseconds(0));
    io_.run();
  });
}

void uplink_service::stop() {
  if (stopping_.exchange(true) || !thread_.joinable()) return;
  boost::asio::post(io_, [this] {
    tick_timer_.cancel();
    reconnect_timer_.cancel();
    if (client_ && client_->is_connected()) {
      try {
        // A clean stop is not a crash: say so, instead of leaving it to the last will.
        client_->publish(uplink_topic(cfg_.gateway, "status"), status_payload("offline", clock_.now().wall_ms), 1, true)
            ->wait_for(std::chrono::seconds(2));
        client_->disconnect(std::chrono::seconds(2))->wait_for(std::chrono::seconds(5));
      } catch (const mqtt::exception& error) {
        spdlog::warn("uplink: disconnect: {}", error.what());
      }
    }
    io_.stop();
  });
  thread_.join();
  client_.reset();  // before the listeners it may still call
  listeners_.clear();
  stats_.connected = false;
}

void uplink_service::schedule_tick(std::chrono::milliseconds delay) {
  tick_timer_.expires_after(delay);
  tick_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

void uplink_service::tick() {
  if (stopping_) return;
  const auto now = clock_.now();
  if (now.trusted) {
    // Before folding and queueing, so that what is sent carries the right time where it can.
    const auto restamped = restamper_.run(now.wall_ms - now.monotonic_ms, fold_limit);
    if (restamped.status != SQLITE_OK) {
      store_log_.log(spdlog::level::warn, "clock: re-stamping failed ({}): {}; retrying", restamped.status,
                     db_.error_message());
    } else if (restamped.messages + restamped.events > 0) {
      stats_.restamped.fetch_add(static_cast<std::uint64_t>(restamped.messages + restamped.events), std::memory_order_relaxed);
      spdlog::info("clock: trusted; re-stamped {} messages and {} events received before it was, from the boot's "
                   "monotonic clock", restamped.messages, restamped.events);
    }
  }
  // Folding is batched (aggregate.interval): each fold rewrites the open
  // windows' pages whatever the number of new samples. A backlog is folded
  // pass after pass until it is caught up.
  fold_result folded;
  const auto fold_now = std::chrono::steady_clock::now();
  if (fold_now >= next_fold_ || !fold_caught_up_) {
    folded = aggregator_.fold(fold_limit, fold_clock{now.wall_ms, restamper_.boot_row(), now.monotonic_ms});
    next_fold_ = fold_now + cfg_.aggregate.interval;
    fold_caught_up_ = folded.caught_up || folded.status != SQLITE_OK;
    if (folded.status != SQLITE_OK) {
      stats_.fold_errors.fetch_add(1, std::memory_order_relaxed);
      store_log_.log(spdlog::level::warn, "aggregate: pass failed ({}): {}; retrying", folded.status, db_.error_message());
    }
  }
  if (client_) {
    for (const auto& fed :
         {outbox_->feed_events(feed_limit, now.wall_ms),
          outbox_->feed_aggregates(feed_limit, now.wall_ms,
                                   in_flight_seqs_[static_cast<std::size_t>(uplink_stream::aggregates)])}) {
      if (fed.status != SQLITE_OK) {
        store_log_.log(spdlog::level::warn, "uplink: queueing failed ({}): {}; retrying", fed.status, db_.error_message());
      }
    }
    // Raw readings, if asked for, while the budget can carry them; when it runs
    // low they are the first thing given up, before any aggregate waits.
    const auto budget = cfg_.uplink.monthly_budget;
    const bool budget_low = budget != 0 && static_cast<std::uint64_t>(month_bytes_) >= budget / 10 * 8;
    if (!raw_metrics_json_.empty()) {
      const auto fed = budget_low ? outbox_->shed_raw() : outbox_->feed_raw(raw_metrics_json_, feed_limit, now.wall_ms);
      if (fed.status != SQLITE_OK) {
        store_log_.log(spdlog::level::warn, "uplink: raw readings: {} ({})", db_.error_message(), fed.status);
      } else if (budget_low && fed.queued > 0) {
        spdlog::warn("uplink: {} of the monthly budget of {} bytes used: dropped {} unsent raw records (shed_uplink.raw)",
                     month_bytes_, budget, fed.queued);
      }
    }
    const auto steady_now = std::chrono::steady_clock::now();
    if (steady_now >= next_health_) {
      next_health_ = steady_now + cfg_.uplink.health_interval;
      if (outbox_->enqueue(uplink_stream::health, health_record(now.wall_ms), now.wall_ms).status != SQLITE_OK) {
        store_log_.log(spdlog::level::warn, "uplink: queueing the health record failed: {}", db_.error_message());
      }
    }
    pump();
    if (const auto rate = drain_meter_.poll(std::chrono::steady_clock::now())) {
      if (outbox_->record_drain_rate(*rate, now.wall_ms) != SQLITE_OK) {
        store_log_.log(spdlog::level::warn, "uplink: recording the drain rate failed: {}", db_.error_message());
      }
    }
  }
  schedule_tick(folded.caught_up ? std::chrono::milliseconds(tick_interval) : std::chrono::milliseconds(0));
}

std::string uplink_service::health_record(std::int64_t now_ms) {
  std::int64_t backlog = 0;
  std::optional<std::int64_t> oldest;
  for (const auto& entry : outbox_->backlog()) {
    backlog += entry.records;
    if (entry.oldest_ms && (!oldest || *entry.oldest_ms < *oldest)) oldest = entry.oldest_ms;
  }
  stats_.backlog_records = static_cast<std::uint64_t>(backlog);
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_);
  auto body = fmt::format(
      "{{\"t_ms\":{},\"uptime_s\":{},\"clock_trusted\":{},\"uplink\":{{\"connects\":{},\"backlog_records\":{},"
      "\"oldest_unsent_ms\":{},\"month_bytes\":{}}}",
      now_ms, uptime.count(), clock_.now().trusted, stats_.connects.load(), backlog,
      oldest ? fmt::format("{}", *oldest) : std::string("null"), outbox_->bytes_sent_in_month(now_ms));
  if (health_fields_) {
    if (auto extra = health_fields_(); !extra.empty()) body += "," + extra;
  }
  return body + "}";
}

void uplink_service::refill_rate_budget() {
  const auto now = std::chrono::steady_clock::now();
  const auto rate = static_cast<double>(cfg_.uplink.max_rate);
  const double elapsed = std::chrono::duration<double>(now - rate_refilled_).count();
  rate_refilled_ = now;
  // A burst of at most one second (or one batch) so an idle link does not save up a flood.
  const double cap = std::max(rate, static_cast<double>(cfg_.uplink.batch_bytes));
  rate_tokens_ = std::min(cap, rate_tokens_ + elapsed * rate);
}

void uplink_service::pump() {
  if (!connected_ || stopping_) return;
  refill_rate_budget();
  const auto budget = cfg_.uplink.monthly_budget;
  const bool budget_spent = budget != 0 && static_cast<std::uint64_t>(month_bytes_) >= budget;
  stats_.budget_exhausted = budget_spent;
  // Alarms first, on an in-flight slot of their own: a window full of bulk
  // batches must not hold an alarm back until one of them is acknowledged.
  auto& alarms_in_flight = in_flight_seqs_[static_cast<std::size_t>(uplink_stream::alarms)];
  if (alarms_in_flight.empty() &&
      paused_until_[static_cast<std::size_t>(uplink_stream::alarms)] <= std::chrono::steady_clock::now()) {
    publish_next(uplink_stream::alarms);
    if (!connected_) return;
  }
  // Whether the link, not the outbox, was the limit: what the drain meter measures.
  bool link_bound = true;
  while (in_flight_.size() - (alarms_in_flight.empty() ? 0 : 1) < cfg_.uplink.max_inflight) {
    bool sent = false, rate_limited = false;
    for (const auto stream : all_uplink_streams) {
      if (stream == uplink_stream::alarms) continue;
      // Everything but alarms waits for budget and rate.
      if (budget_spent) break;
      if (cfg_.uplink.max_rate != 0 && rate_tokens_ <= 0) {
        rate_limited = true;
        break;
      }
      if (paused_until_[static_cast<std::size_t>(stream)] > std::chrono::steady_clock::now()) continue;
      if (publish_next(stream)) {
        sent = true;
        break;
      }
      if (!connected_) return;
    }
    if (!sent) {
      link_bound = rate_limited;
      break;
    }
  }
  drain_meter_.on_pump(link_bound, std::chrono::steady_clock::now());
}

bool uplink_service::publish_next(uplink_stream stream) {
  const auto index = static_cast<std::size_t>(stream);
  auto records = outbox_->peek(stream, stream == uplink_stream::aggregates, in_flight_seqs_[index],
                               cfg_.uplink.batch_records, cfg_.uplink.batch_bytes);
  if (records.empty()) return false;
  const auto now_ms = clock_.now().wall_ms;
  auto payload = encode_batch(cfg_.gateway, stream, records, now_ms);
  const auto id = next_batch_id_++;
  auto listener = std::make_shared<delivery_listener>(io_, *this, id);
  const auto wire_bytes = payload.size();
  try {
    client_->publish(mqtt::make_message(uplink_topic(cfg_.gateway, to_string(stream)), std::move(payload), 1, false),
                     nullptr, *listener);
  } catch (const mqtt::exception& error) {
    // Paho refuses while disconnected or when its own queue is full: wait for
    // the next tick or acknowledgement instead of treating it as a failure.
    stats_.publish_refused.fetch_add(1, std::memory_order_relaxed);
    failure_log_.log(spdlog::level::warn, "uplink: publish refused ({}), retrying later", error.what());
    connected_ = client_->is_connected();
    return false;
  }
  batch sent{stream, {}, wire_bytes, connection_};
  for (const auto& record : records) {
    sent.seqs.push_back(record.seq);
    in_flight_seqs_[index].insert(record.seq);
  }
  in_flight_.emplace(id, std::move(sent));
  listeners_.emplace(id, std::move(listener));
  if (stream != uplink_stream::alarms) rate_tokens_ -= static_cast<double>(wire_bytes);
  return true;
}

void uplink_service::on_delivered(std::uint64_t batch_id, bool ok, int reason_code) {
  listeners_.erase(batch_id);
  const auto it = in_flight_.find(batch_id);
  // Not found: the connection was lost meanwhile and the records are queued
  // to go again; an acknowledgement that still arrives changes nothing.
  if (it == in_flight_.end()) return;
  auto sent = std::move(it->second);
  in_flight_.erase(it);
  auto& seqs = in_flight_seqs_[static_cast<std::size_t>(sent.stream)];
  for (const auto seq : sent.seqs) seqs.erase(seq);
  if (!ok) {
    // Refused while connected (an MQTT 5 PUBACK with an error reason: the
    // centre's ACL, a quota). The records stay in the outbox; the stream
    // waits before trying again, so a lasting refusal is not a busy loop.
    stats_.batches_refused.fetch_add(1, std::memory_order_relaxed);
    paused_until_[static_cast<std::size_t>(sent.stream)] = std::chrono::steady_clock::now() + refused_retry_delay;
    failure_log_.log(spdlog::level::err,
                     "uplink: the central broker refused a batch of {} {} records: {}; they stay in the outbox and go "
                     "again in {} s",
                     sent.seqs.size(), to_string(sent.stream),
                     reason_code >= 0x80 ? describe_reason_code(reason_code) : std::string("delivery failed"),
                     std::chrono::duration_cast<std::chrono::seconds>(refused_retry_delay).count());
  } else {
    const auto now_ms = clock_.now().wall_ms;
    const int rc = outbox_->acknowledge(sent.stream, sent.seqs, static_cast<std::int64_t>(sent.wire_bytes), now_ms);
    if (rc != SQLITE_OK) {
      // The records stay in the outbox and go again; the centre drops the copies.
      store_log_.log(spdlog::level::warn, "uplink: recording an acknowledgement failed ({}): {}", rc, db_.error_message());
    } else {
      month_bytes_ = outbox_->bytes_sent_in_month(now_ms);
      stats_.batches_acknowledged.fetch_add(1, std::memory_order_relaxed);
      stats_.records_acknowledged.fetch_add(sent.seqs.size(), std::memory_order_relaxed);
      stats_.wire_bytes_acknowledged.fetch_add(sent.wire_bytes, std::memory_order_relaxed);
      drain_meter_.on_acknowledged(sent.seqs.size());
    }
  }
  pump();
}

void uplink_service::connect() {
  if (stopping_) return;
  // Paho's thread: only describe and hand over. Naming which step failed
  // (diagnose_connection) waits on the network: it runs on the uplink's thread.
  auto on_failure = [this](const mqtt::token& tok) {
    stats_.connect_failures.fetch_add(1, std::memory_order_relaxed);
    auto why = describe_connect_failure(tok.get_return_code(), tok.get_reason_code(), {});
    const bool unexplained = tok.get_return_code() == -1;  // TCP or TLS: Paho does not say which
    boost::asio::post(io_, [this, why = std::move(why), unexplained]() mutable {
      if (unexplained) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= next_diagnosis_) {
          next_diagnosis_ = now + diagnosis_interval;
          last_diagnosis_ = diagnose_connection(cfg_.uplink.broker, cfg_.uplink.broker.connect_timeout);
        }
        if (!last_diagnosis_.empty()) why = "connection failed: " + last_diagnosis_;
      }
      failure_log_.log(spdlog::level::err, "uplink: cannot connect to {}: {}", cfg_.uplink.broker.uri, why);
      schedule_reconnect();
    });
  };
  struct listener final : mqtt::iaction_listener {
    std::function<void(const mqtt::token&)> failed;
    void on_success(const mqtt::token&) override {}
    void on_failure(const mqtt::token& tok) override { failed(tok); }
  };
  auto attempt = std::make_shared<listener>();
  attempt->failed = on_failure;
  try {
    client_->connect(connect_options_, nullptr, *attempt);
    connect_listener_ = attempt;  // must outlive the attempt
  } catch (const mqtt::exception& error) {
    failure_log_.log(spdlog::level::err, "uplink: cannot start connecting to {}: {}", cfg_.uplink.broker.uri, error.what());
    schedule_reconnect();
  }
}

void uplink_service::schedule_reconnect() {
  if (stopping_) return;
  const auto delay = backoff_.next();
  reconnect_timer_.expires_after(delay);
  reconnect_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) connect();
  });
}

void uplink_service::on_connected() {
  connected_ = true;
  ++connection_;
  stats_.connected = true;
  stats_.connects.fetch_add(1, std::memory_order_relaxed);
  backoff_.reset();
  paused_until_ = {};  // a new connection may come with new permissions
  month_bytes_ = outbox_->bytes_sent_in_month(clock_.now().wall_ms);
  spdlog::info("uplink: connected to {} as {}", cfg_.uplink.broker.uri, cfg_.uplink.broker.client_id);
  try {
    client_->publish(uplink_topic(cfg_.gateway, "status"), status_payload("online", clock_.now().wall_ms), 1, true);
  } catch (const mqtt::exception& error) {
    spdlog::warn("uplink: publishing the online status failed: {}", error.what());
  }
  pump();
}

void uplink_service::on_connection_lost(const std::string& cause) {
  connected_ = false;
  stats_.connected = false;
  spdlog::warn("uplink: lost the connection to {}{}{}", cfg_.uplink.broker.uri, cause.empty() ? "" : ": ", cause);
  drain_meter_.on_disconnected();
  // Unacknowledged batches go again from the outbox after the reconnect.
  in_flight_.clear();
  for (auto& seqs : in_flight_seqs_) seqs.clear();
  schedule_reconnect();
}

}  // namespace communegw
