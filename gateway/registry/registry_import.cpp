#include "gateway/registry/registry_import.hpp"

#include <algorithm>
#include <fstream>
#include <unordered_map>

#include <fmt/format.h>
#include <simdjson.h>

#include "drivers/json_field.hpp"
#include "drivers/registry.hpp"
#include "gateway/config/quantity.hpp"
#include "gateway/model/json_text.hpp"
#include "gateway/store/sqlite.hpp"

namespace communegw {

namespace {

// One record of RFC 4180 CSV from `in`; false at the end. `line` counts
// physical lines (a quoted field may span several).
bool read_csv_record(std::istream& in, std::vector<std::string>& fields, int& line, std::string& error) {
  fields.clear();
  std::string physical;
  if (!std::getline(in, physical)) return false;
  ++line;
  std::string field;
  bool quoted = false, was_quoted = false;
  for (std::size_t i = 0;; ++i) {
    if (i == physical.size()) {
      if (!quoted) break;
      // A line break inside quotes belongs to the field.
      if (!std::getline(in, physical)) {
        error = "a quoted field is not closed";
        return true;
      }
      ++line;
      field += '\n';
      i = static_cast<std::size_t>(-1);
      continue;
    }
    const char c = physical[i];
    if (quoted) {
      if (c == '"' && i + 1 < physical.size() && physical[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"' && field.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
      was_quoted = false;
    } else if (c == '\r' && i + 1 == physical.size()) {
      // CRLF line ends, as spreadsheets write them.
    } else {
      field += c;
    }
  }
  fields.push_back(std::move(field));
  return true;
}

std::string trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return std::string(text);
}

}  // namespace

csv_import read_registry_csv(const std::filesystem::path& file) {
  csv_import out;
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    out.errors.push_back(fmt::format("{}: cannot read the file", file.string()));
    return out;
  }
  const auto name = file.string();
  int line = 0;
  std::vector<std::string> fields;
  std::string error;
  if (!read_csv_record(in, fields, line, error)) {
    out.errors.push_back(fmt::format("{}: the file is empty (it needs a header row: {})", name,
                                     fmt::join(registry_csv_columns, ",")));
    return out;
  }
  // The header row: which column is which.
  if (!fields.empty() && fields[0].rfind("\xEF\xBB\xBF", 0) == 0) fields[0].erase(0, 3);  // a spreadsheet's BOM
  std::vector<int> column_of(fields.size(), -1);
  bool has_id = false, has_kind = false;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const auto header = trimmed(fields[i]);
    if (header == "source") continue;  // `device list` output: where each was defined, skipped (-1)
    const auto known = std::find(registry_csv_columns.begin(), registry_csv_columns.end(), header);
    if (known == registry_csv_columns.end()) {
      out.errors.push_back(fmt::format("{}:{}: column {}: \"{}\" is not one of {}", name, line, i + 1, header.substr(0, 40),
                                       fmt::join(registry_csv_columns, ", ")));
      continue;
    }
    column_of[i] = static_cast<int>(known - registry_csv_columns.begin());
    has_id = has_id || header == "id";
    has_kind = has_kind || header == "kind";
  }
  if (!has_id || !has_kind) out.errors.push_back(fmt::format("{}:{}: the header row needs the columns id and kind", name, line));
  if (!out.errors.empty()) return out;

  std::unordered_map<std::string, int> seen;  // id -> line
  while (true) {
    error.clear();
    const int first_line = line + 1;
    if (!read_csv_record(in, fields, line, error)) break;
    const auto where = fmt::format("{}:{}", name, first_line);
    if (!error.empty()) {
      out.errors.push_back(fmt::format("{}: {}", where, error));
      break;
    }
    if (fields.size() == 1 && trimmed(fields[0]).empty()) continue;  // a blank line
    if (fields.size() > column_of.size()) {
      out.errors.push_back(fmt::format("{}: {} fields, the header has {}", where, fields.size(), column_of.size()));
      continue;
    }
    registered_device device;
    device.source = where;
    std::string problem;
    for (std::size_t i = 0; i < fields.size() && problem.empty(); ++i) {
      if (column_of[i] < 0) continue;  // source
      const auto value = trimmed(fields[i]);
      const auto column = registry_csv_columns[static_cast<std::size_t>(column_of[i])];
      auto number = [&](std::optional<double>& target) {
        if (value.empty()) return;
        const auto parsed = json_field::parse_number_text(value);
        if (!parsed) problem = fmt::format("{}: \"{}\" is not a number", column, value.substr(0, 40));
        else target = *parsed;
      };
      if (column == "id") device.id = value;
      else if (column == "kind") device.kind = value;
      else if (column == "name") device.name = value;
      else if (column == "village") device.village = value;
      else if (column == "latitude") number(device.latitude);
      else if (column == "longitude") number(device.longitude);
      else if (column == "road_length_m") number(device.road_length_m);
      else if (column == "driver") device.driver = value;
      else if (column == "report_interval" && !value.empty()) {
        const auto interval = parse_duration(value);
        if (!interval || interval->count() <= 0) {
          problem = fmt::format("report_interval: \"{}\" is not a duration such as 30s, 5min or 1h", value.substr(0, 40));
        } else {
          device.report_interval = *interval;
        }
      } else if (column == "metric_intervals") {
        if (auto bad = parse_metric_intervals(value, device.metric_intervals, ';'); !bad.empty()) {
          problem = "metric_intervals: " + bad;
        }
      } else if (column == "units") {
        if (auto bad = parse_unit_pairs(value, device.units, ';'); !bad.empty()) problem = "units: " + bad;
      }
    }
    if (problem.empty() && !simdjson::validate_utf8(device.id.data(), device.id.size())) {
      problem = "id: is not UTF-8 text (save the spreadsheet as CSV UTF-8)";
    }
    if (problem.empty()) problem = check_registered_device(device);
    if (problem.empty() && !device.driver.empty() && !find_driver(device.driver)) {
      problem = fmt::format("driver: \"{}\" is not a driver of this gateway (communegw describe drivers)",
                            device.driver.substr(0, 32));
    }
    if (!problem.empty()) {
      out.errors.push_back(fmt::format("{}: {}", where, problem));
      continue;
    }
    if (const auto [it, fresh] = seen.emplace(device.id, first_line); !fresh) {
      out.errors.push_back(fmt::format("{}: id: \"{}\" is already on line {}", where, device.id, it->second));
      continue;
    }
    out.devices.push_back(std::move(device));
  }
  return out;
}

// ---- the store's table -------------------------------------------------------

namespace {

std::string units_json(const registered_device& device) {
  std::string out = "{";
  for (const auto& [field, unit] : device.units) {
    if (out.size() > 1) out += ',';
    append_json_string(out, field);
    out += ':';
    append_json_string(out, unit);
  }
  return out + "}";
}

std::string metric_intervals_json(const registered_device& device) {
  std::string out = "{";
  for (const auto& [metric, interval] : device.metric_intervals) {
    if (out.size() > 1) out += ',';
    append_json_string(out, metric);
    out += fmt::format(":{}", interval.count());
  }
  return out + "}";
}

}  // namespace

std::vector<registered_device> load_imported_devices(sqlite::database& db) {
  std::vector<registered_device> devices;
  auto rows = db.prepare(
      "SELECT id, kind, name, village, latitude, longitude, road_length_m, report_interval_ms, driver, source, "
      "(SELECT group_concat(key || '=' || value, char(31)) FROM json_each(units)), "
      "(SELECT group_concat(key || '=' || value || 'ms', char(31)) FROM json_each(metric_intervals)) FROM registry ORDER BY id");
  while (rows.step() == SQLITE_ROW) {
    registered_device device;
    device.id = rows.column_text(0);
    device.kind = rows.column_text(1);
    device.name = rows.column_text(2);
    device.village = rows.column_text(3);
    auto optional_number = [&](int column) {
      return rows.column_is_null(column) ? std::nullopt : std::optional<double>(rows.column_double(column));
    };
    device.latitude = optional_number(4);
    device.longitude = optional_number(5);
    device.road_length_m = optional_number(6);
    device.report_interval = std::chrono::milliseconds(rows.column_is_null(7) ? 0 : rows.column_int(7));
    device.driver = rows.column_text(8);
    device.source = rows.column_text(9);
    if (!rows.column_is_null(10)) parse_unit_pairs(rows.column_text(10), device.units, '\x1f');
    if (!rows.column_is_null(11)) parse_metric_intervals(rows.column_text(11), device.metric_intervals, '\x1f');
    devices.push_back(std::move(device));
  }
  return devices;
}

void replace_imported_devices(sqlite::database& db, const std::vector<registered_device>& devices) {
  sqlite::transaction txn(db);
  if (txn.begin_result() != SQLITE_OK) throw sqlite::error(txn.begin_result(), fmt::format("registry: {}", db.error_message()));
  db.exec("DELETE FROM registry");
  auto insert = db.prepare(
      "INSERT INTO registry(id, kind, name, village, latitude, longitude, road_length_m, report_interval_ms, driver, "
      "units, source, metric_intervals) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  for (const auto& device : devices) {
    insert.bind(1, std::string_view(device.id))
        .bind(2, std::string_view(device.kind))
        .bind(3, std::string_view(device.name))
        .bind(4, std::string_view(device.village))
        .bind(5, device.latitude)
        .bind(6, device.longitude)
        .bind(7, device.road_length_m)
        .bind(8, device.report_interval.count() ? std::optional<std::int64_t>(device.report_interval.count()) : std::nullopt)
        .bind(9, std::string_view(device.driver))
        .bind(10, std::string_view(units_json(device)))
        .bind(11, std::string_view(device.source))
        .bind(12, std::string_view(metric_intervals_json(device)));
    const int rc = insert.step();
    insert.reset();
    if (rc != SQLITE_DONE) throw sqlite::error(rc, fmt::format("registry: {}", db.error_message()));
  }
  if (const int rc = txn.commit(); rc != SQLITE_OK) throw sqlite::error(rc, fmt::format("registry: {}", db.error_message()));
}

}  // namespace communegw
