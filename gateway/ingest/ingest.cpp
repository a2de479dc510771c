#include "gateway/ingest/ingest.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <new>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "drivers/registry.hpp"

namespace communegw {

namespace {

// Where the level starting at `from` ends: the next '/', or the end.
std::size_t level_end(std::string_view text, std::size_t from) {
  if (from >= text.size()) return text.size();  // memchr may not be given a null pointer, even for 0 bytes
  const void* slash = std::memchr(text.data() + from, '/', text.size() - from);
  return slash ? static_cast<std::size_t>(static_cast<const char*>(slash) - text.data()) : text.size();
}

}  // namespace

bool topic_matches(std::string_view filter, std::string_view topic) {
  // Topics starting with '$' are not matched by a wildcard at the first level.
  if (!topic.empty() && topic.front() == '$' && !filter.empty() && (filter.front() == '+' || filter.front() == '#')) {
    return false;
  }
  // One pass over both, a level at a time; it runs for every message.
  const std::size_t filter_size = filter.size();
  const std::size_t topic_size = topic.size();
  std::size_t f = 0;  // the start of a level in filter
  std::size_t t = 0;  // and in topic
  while (true) {
    const bool whole_level_wildcard = f < filter_size && (f + 1 == filter_size || filter[f + 1] == '/');
    if (whole_level_wildcard && filter[f] == '#') return true;
    if (whole_level_wildcard && filter[f] == '+') {
      ++f;
      t = level_end(topic, t);
    } else {
      const std::size_t level = level_end(filter, f) - f;
      if (topic_size - t < level || (level != 0 && std::memcmp(filter.data() + f, topic.data() + t, level) != 0)) {
        return false;
      }
      f += level;
      t += level;
      if (t < topic_size && topic[t] != '/') return false;  // the topic's level is longer
    }
    const bool filter_end = f == filter_size;
    const bool topic_end = t == topic_size;
    if (filter_end || topic_end) {
      // "a/#" also matches "a": '#' includes the parent level.
      return filter_end ? topic_end : filter.substr(f + 1) == "#";
    }
    ++f;
    ++t;
  }
}

namespace {

std::vector<ingest::routed_driver> enabled_drivers(const config& cfg, const device_registry* registry) {
  std::vector<ingest::routed_driver> drivers;
  for (auto settings : cfg.drivers) {
    if (!settings.enabled) continue;
    const auto* descriptor = find_driver(settings.name);
    if (!descriptor) continue;  // config only lists registered drivers
    settings.registry = registry;
    drivers.push_back({descriptor->make(settings), settings.topics});
  }
  return drivers;
}

}  // namespace

ingest::ingest(const config& cfg, clock& time_source, identity_scheme identities, const device_registry* registry)
    : ingest(enabled_drivers(cfg, registry), cfg.mqtt.max_payload, time_source, identities, registry) {}

ingest::ingest(std::vector<routed_driver> drivers, std::uint64_t max_payload, clock& time_source,
               identity_scheme identities, const device_registry* registry)
    : clock_(time_source),
      max_payload_(max_payload),
      identities_(identities),
      registry_(registry && !registry->empty() ? registry : nullptr) {
  for (auto& each : drivers) {
    drivers_.push_back(std::move(each.target));
    for (auto& filter : each.filters) routes_.push_back({std::move(filter), drivers_.back().get()});
  }
}

std::vector<std::string> ingest::topic_filters() const {
  std::vector<std::string> filters;
  for (const auto& r : routes_) filters.push_back(r.filter);
  return filters;
}

void ingest::trim_oversized(inbound_message& message) const {
  if (message.payload.size() <= max_payload_) return;
  const auto kept = std::min(message.payload.size(), quarantine_excerpt_bytes);
  message.payload_bytes_left_out += message.payload.size() - kept;
  message.payload = message.payload.substr(0, kept);
  message.owner = nullptr;  // the excerpt is copied; the message can go at once
}

void ingest::accept(const inbound_message& message, received_message& out) {
  const std::string_view topic = message.topic;
  const std::string_view payload = message.payload;
  out.received = message.received;
  out.redelivered = message.flags.redelivered;
  out.retained = message.flags.retained;
  out.payload_size = payload.size() + message.payload_bytes_left_out;
  counters_.received.fetch_add(1, std::memory_order_relaxed);

  auto refuse = [&](rejection why) {
    counters_.rejected[static_cast<std::size_t>(why.reason)].fetch_add(1, std::memory_order_relaxed);
    if (why.keep_excerpt) out.payload_excerpt.assign(payload.substr(0, quarantine_excerpt_bytes));
    else out.payload_excerpt.clear();
    out.result = std::move(why);
  };

  if (out.payload_size > max_payload_) {
    refuse({reject_reason::oversized_payload,
            fmt::format("{} bytes is over mqtt.max_payload ({})", out.payload_size, max_payload_)});
  } else {
    driver* target = nullptr;
    for (const auto& r : routes_) {
      if (topic_matches(r.filter, topic)) {
        target = r.target;
        break;
      }
    }
    if (!target) {
      refuse({reject_reason::unknown_topic, "no enabled driver subscribes to this topic"});
    } else {
      try {
        // The driver's result is built straight in the slot, not moved into it:
        // a decoded_message moved is ~150 instructions. (Placement new with the
        // call as initialiser: the copy is elided. If decode throws, the slot
        // gets a result again before the catch below uses it.)
        std::destroy_at(&out.result);
        try {
          ::new (static_cast<void*>(&out.result)) decode_result(target->decode(topic, payload));
        } catch (...) {
          ::new (static_cast<void*>(&out.result)) decode_result();
          if (payload.size() > large_payload_bytes) target->release_memory();
          throw;
        }
        // The result holds no view into the driver's buffers (decoded_message owns its strings).
        if (payload.size() > large_payload_bytes) target->release_memory();
        if (auto* why = std::get_if<rejection>(&out.result)) {
          refuse(std::move(*why));
        } else {
          auto& decoded = std::get<decoded_message>(out.result);
          counters_.accepted.fetch_add(1, std::memory_order_relaxed);
          if (registry_) registry_->apply(decoded);
          if (const auto ignored = why_ignored(decoded)) {
            counters_.ignored[static_cast<std::size_t>(*ignored)].fetch_add(1, std::memory_order_relaxed);
          }
          const auto key = identify(decoded, topic, payload, identities_);
          out.identity = key.identity;
          out.identity_unique = key.unique;
          // The message's own field rejections and those of the other devices it reports for.
          auto count_field_rejections = [&](const decoded_message& part) {
            if (part.field_rejections.empty()) return;
            counters_.field_rejections.fetch_add(part.field_rejections.size(), std::memory_order_relaxed);
            for (const auto& field : part.field_rejections) {
              counters_.rejected[static_cast<std::size_t>(field.reason)].fetch_add(1, std::memory_order_relaxed);
            }
            out.payload_excerpt.assign(payload.substr(0, quarantine_excerpt_bytes));
          };
          count_field_rejections(decoded);
          for (const auto& other : decoded.other_devices) count_field_rejections(other);
        }
      } catch (const std::exception& error) {
        // A driver must not throw; if one does, the input is still accounted for.
        counters_.driver_exceptions.fetch_add(1, std::memory_order_relaxed);
        driver_bug_log_.log(spdlog::level::err, "driver bug on topic {}: {} (quarantined as driver_error)", topic,
                            error.what());
        refuse({reject_reason::driver_error, fmt::format("driver error: {}", error.what())});
      }
    }
  }
  out.topic.assign(topic);
}

}  // namespace communegw
