// `communegw check`: what an on-site IT person runs first when something is
// wrong. Each line: status, subject, and what to do about it.
#include <sys/statvfs.h>

#include <chrono>
#include <iostream>

#include <fmt/format.h>

#include "gateway/cli/commands.hpp"
#include "gateway/config/quantity.hpp"
#include "gateway/model/timestamp.hpp"
#include "gateway/mqtt/broker_subscriber.hpp"
#include "gateway/store/sqlite.hpp"
#include "gateway/store/store.hpp"
#include "gateway/uplink/outbox.hpp"

namespace communegw {
namespace {

enum class verdict { ok, warn, fail };

struct check_report {
  verdict worst = verdict::ok;
  void line(verdict v, std::string_view subject, const std::string& text) {
    static constexpr std::string_view names[] = {"ok", "warn", "fail"};
    std::cout << fmt::format("{:<5} {:<7} {}\n", names[static_cast<int>(v)], subject, text);
    if (v > worst) worst = v;
  }
};

// What became of every message the gateway received (counter::messages_*):
// one outcome each, the ignored ones by reason.
void check_accounting(sqlite::database& db, check_report& report) {
  std::int64_t stored = 0, availability_only = 0, duplicates = 0, rejected = 0, ignored = 0;
  std::string ignored_reasons;
  auto rows = db.prepare(
      "SELECT name, value FROM counters WHERE name LIKE 'messages.%' OR name IN (?1, ?2) ORDER BY name");
  rows.bind(1, counter::duplicates).bind(2, counter::retained_repeats);
  while (rows.step() == SQLITE_ROW) {
    const auto name = rows.column_text(0);
    const auto value = rows.column_int(1);
    if (name == counter::messages_stored) stored = value;
    else if (name == counter::messages_availability_only) availability_only = value;
    else if (name == counter::duplicates || name == counter::retained_repeats) duplicates += value;
    else if (name == counter::messages_rejected) rejected = value;
    else if (name.starts_with(counter::messages_ignored_prefix)) {
      ignored += value;
      ignored_reasons += fmt::format("{}{} {}", ignored_reasons.empty() ? "" : ", ",
                                     name.substr(counter::messages_ignored_prefix.size()), value);
    }
  }
  report.line(verdict::ok, "ingest",
              fmt::format("{} received = {} stored + {} availability only + {} duplicates + {} rejected + {} ignored{}",
                          stored + availability_only + duplicates + rejected + ignored, stored, availability_only,
                          duplicates, rejected, ignored, ignored_reasons.empty() ? "" : " (" + ignored_reasons + ")"));
}

void check_store(const config& cfg, check_report& report) {
  const auto& path = cfg.store.path;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    // A fresh install before its first start: nothing is wrong.
    report.line(verdict::ok, "store", fmt::format("{} will be created at the first start", path.string()));
    return;
  }
  try {
    sqlite::database db(path, SQLITE_OPEN_READONLY);
    auto check = db.prepare("PRAGMA integrity_check(5)");
    std::string problems;
    while (check.step() == SQLITE_ROW) {
      if (check.column_text(0) != "ok") problems += std::string(check.column_text(0)) + "; ";
    }
    if (!problems.empty()) {
      report.line(verdict::fail, "store",
                  fmt::format("{} is damaged: {}. `communegw run` will move it aside and start a fresh store.",
                              path.string(), problems));
      return;
    }
    const auto pages = static_cast<std::uint64_t>(db.query_int("PRAGMA page_count"));
    const auto free_pages = static_cast<std::uint64_t>(db.query_int("PRAGMA freelist_count"));
    const auto page_size = static_cast<std::uint64_t>(db.query_int("PRAGMA page_size"));
    const auto used = (pages - std::min(pages, free_pages)) * page_size;
    const auto version = db.query_int("PRAGMA user_version");
    report.line(used > cfg.store.max_size ? verdict::warn : verdict::ok, "store",
                fmt::format("{}: integrity ok, schema v{}, {:.1f} MiB used of {} quota", path.string(), version,
                            static_cast<double>(used) / (1 << 20), format_size(cfg.store.max_size)));
    check_accounting(db, report);
  } catch (const sqlite::error& error) {
    if (error.damaged_file()) {  // what `run` recovers from, as the check above
      report.line(verdict::fail, "store",
                  fmt::format("{} is damaged: {}. `communegw run` will move it aside and start a fresh store.",
                              path.string(), error.what()));
    } else {
      report.line(verdict::fail, "store", fmt::format("{}: {}", path.string(), error.what()));
    }
  }
}

// The central broker, and what waits for it in the outbox.
void check_uplink(const config& cfg, check_report& report) {
  if (!cfg.uplink.enabled) {
    report.line(verdict::ok, "uplink", "disabled (uplink.enabled = false): aggregates stay local");
    return;
  }
  const auto problem = probe_broker(cfg.uplink.broker);
  if (problem.empty()) report.line(verdict::ok, "uplink", fmt::format("{} reachable", cfg.uplink.broker.uri));
  else report.line(verdict::fail, "uplink", fmt::format("{}: {}", cfg.uplink.broker.uri, problem));

  std::error_code ec;
  if (!std::filesystem::exists(cfg.store.path, ec)) return;
  try {
    sqlite::database db(cfg.store.path, SQLITE_OPEN_READONLY);
    if (db.query_int("PRAGMA user_version") < 3) return;  // no outbox before schema v3
    auto backlog = db.prepare("SELECT count(*), coalesce(sum(length(body)), 0), min(created_ms) FROM outbox");
    backlog.step();
    const auto records = backlog.column_int(0);
    const auto bytes = static_cast<std::uint64_t>(backlog.column_int(1));
    std::string text = fmt::format("backlog {} records ({} before compression)", records, format_size(bytes));
    if (!backlog.column_is_null(2)) {
      const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count();
      const auto age = std::chrono::milliseconds(std::max<std::int64_t>(0, now_ms - backlog.column_int(2)));
      text += fmt::format(", oldest queued {} ago", format_duration(std::chrono::duration_cast<std::chrono::seconds>(age)));
      if (cfg.uplink.max_rate != 0) {
        // Uncompressed bytes at the configured rate: an upper bound.
        text += fmt::format(", drains in at most {} at uplink.max_rate",
                            format_duration(std::chrono::seconds(bytes / cfg.uplink.max_rate + 1)));
      }
      // What the link really carried, the last time it had more to send than it could.
      if (const auto rate = read_drain_rate(db); rate && rate->records_per_s > 0) {
        const auto eta = std::chrono::seconds(static_cast<std::int64_t>(static_cast<double>(records) / rate->records_per_s) + 1);
        const auto measured_ago = std::chrono::seconds(std::max<std::int64_t>(0, now_ms - rate->measured_ms) / 1000);
        text += fmt::format(", about {} at the {:.1f} records/s measured {} ago", format_duration(eta),
                            rate->records_per_s, format_duration(measured_ago));
      } else if (cfg.uplink.max_rate == 0) {
        text += ", time to drain not known yet (measured once the link has had more to send than it carries)";
      }
    }
    auto month = db.prepare("SELECT coalesce(sum(bytes), 0) FROM uplink_usage WHERE month = strftime('%Y-%m', 'now')");
    month.step();
    const auto month_bytes = static_cast<std::uint64_t>(month.column_int(0));
    text += fmt::format("; sent this month {}", format_size(month_bytes));
    const bool over_budget = cfg.uplink.monthly_budget != 0 && month_bytes >= cfg.uplink.monthly_budget;
    if (cfg.uplink.monthly_budget != 0) {
      text += fmt::format(" of {} budget{}", format_size(cfg.uplink.monthly_budget), over_budget ? " (spent: only alarms go)" : "");
    }
    report.line(over_budget ? verdict::warn : verdict::ok, "uplink", text);
  } catch (const sqlite::error& error) {
    report.line(verdict::fail, "uplink", fmt::format("reading the outbox: {}", error.what()));
  }
}

void check_disk(const config& cfg, check_report& report) {
  auto dir = cfg.store.path.has_parent_path() ? cfg.store.path.parent_path() : std::filesystem::path(".");
  // Before the first start the state directory may not exist yet (systemd
  // makes it when it starts the unit): the disk it will be on is its nearest
  // existing parent's.
  std::error_code ec;
  while (!std::filesystem::exists(dir, ec) && dir.has_parent_path() && dir.parent_path() != dir) dir = dir.parent_path();
  struct statvfs info {};
  if (::statvfs(dir.c_str(), &info) != 0) {
    report.line(verdict::fail, "disk", fmt::format("cannot read free space of {}: {}", dir.string(), std::strerror(errno)));
    return;
  }
  const auto free_bytes = static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
  const auto floor = cfg.store.min_free_disk;
  const auto text = fmt::format("{:.1f} MiB free on {} (floor {})", static_cast<double>(free_bytes) / (1 << 20),
                                dir.string(), format_size(floor));
  report.line(free_bytes < floor ? verdict::fail : free_bytes < floor * 2 ? verdict::warn : verdict::ok, "disk", text);
}

void check_clock(const config& cfg, check_report& report) {
  system_clock clock(cfg.clock.trust, cfg.clock.min_year);
  const auto now = clock.now();
  const auto when = format_rfc3339_ms(now.wall_ms);
  if (now.trusted) {
    report.line(verdict::ok, "clock", fmt::format("{} (synchronised)", when));
  } else if (cfg.clock.trust == clock_trust_mode::never) {
    // The setting is the reason, whatever the kernel says.
    report.line(verdict::warn, "clock", fmt::format("{}: not trusted because clock.trust = \"never\" in the configuration", when));
  } else if (!system_clock::kernel_reports_synchronised()) {
    report.line(verdict::warn, "clock",
                fmt::format("{}: not synchronised (no NTP sync reported by the kernel); records are marked "
                            "time-untrusted. Check network time (timedatectl).",
                            when));
  } else {
    report.line(verdict::warn, "clock", fmt::format("{}: not trusted: before clock.min_year ({})", when, cfg.clock.min_year));
  }
}

}  // namespace

int check_failed_config(const std::string& error) {
  check_report report;
  report.line(verdict::fail, "config", error);
  return static_cast<int>(report.worst);
}

int check_gateway(const config& cfg) {
  check_report report;
  report.line(verdict::ok, "config", cfg.source.string());
  for (const auto& warning : cfg.warnings) report.line(verdict::warn, "config", warning);
  if (cfg.mqtt.client_id == "communegw-" + cfg.gateway.id) {
    report.line(verdict::warn, "broker",
                fmt::format("the gateway's MQTT client id \"{}\" can be guessed: any device account connecting with it takes "
                            "over the gateway's session and what the broker queued for it. Set mqtt.client_id to one no "
                            "device knows (communegw init writes one), while the devices are quiet: the broker's queue for "
                            "the old id is not carried over",
                            cfg.mqtt.client_id));
  }
  const auto broker_problem = probe_broker(cfg.mqtt);
  if (broker_problem.empty()) {
    report.line(verdict::ok, "broker",
                fmt::format("{} reachable{}", cfg.mqtt.uri, cfg.mqtt.username.empty() ? "" : " as " + cfg.mqtt.username));
  } else {
    report.line(verdict::fail, "broker", fmt::format("{}: {}", cfg.mqtt.uri, broker_problem));
  }
  check_store(cfg, report);
  check_uplink(cfg, report);
  check_disk(cfg, report);
  check_clock(cfg, report);
  return static_cast<int>(report.worst);
}

}  // namespace communegw
