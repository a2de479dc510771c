#pragma once
// The registry's devices from an installer's spreadsheet: reading the CSV,
// and keeping what was imported in the store (table `registry`), where
// `communegw run` finds it at start (device_registry.hpp, docs/devices.md).

#include <array>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/registry/device_registry.hpp"

namespace communegw {

namespace sqlite {
class database;
}

// The columns of the installer's CSV, in the order `communegw device list
// --format csv` writes them (it adds `source`, where each device was defined,
// which an import skips). Only `id` and `kind` are required; a header row
// names the columns (in any order; unknown columns are an error).
inline constexpr std::array<std::string_view, 11> registry_csv_columns{
    "id",           "kind",           "name",             "village", "latitude", "longitude",
    "road_length_m", "report_interval", "metric_intervals", "driver",  "units"};

struct csv_import {
  std::vector<registered_device> devices;
  std::vector<std::string> errors;  // "file:line: column: message", every one found
};
// Reads an installer's CSV (RFC 4180: commas, double quotes, UTF-8, an
// optional byte-order mark as spreadsheets write it). `units` holds
// "field=unit" pairs separated by ';', `metric_intervals` "metric=duration" pairs.
csv_import read_registry_csv(const std::filesystem::path& file);

// The devices imported into the store (table `registry`), and replacing them
// all in one transaction. Throw sqlite::error.
std::vector<registered_device> load_imported_devices(sqlite::database& db);
void replace_imported_devices(sqlite::database& db, const std::vector<registered_device>& devices);

}  // namespace communegw
