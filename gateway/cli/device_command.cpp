// `communegw device import FILE.csv`: the installer's spreadsheet into the
// device registry kept in the store (docs/devices.md). Every row is checked
// first; nothing is written unless all of them are valid.
#include <iostream>

#include <fmt/format.h>

#include "gateway/cli/commands.hpp"
#include "gateway/clock/clock.hpp"
#include "gateway/registry/registry_import.hpp"
#include "gateway/store/schema.hpp"
#include "gateway/store/sqlite.hpp"
#include "gateway/store/store.hpp"

namespace communegw {

int import_devices(const config& cfg, const std::filesystem::path& csv_file) {
  const auto imported = read_registry_csv(csv_file);
  if (!imported.errors.empty()) {
    for (const auto& error : imported.errors) std::cerr << error << '\n';
    std::cerr << fmt::format("device import: {} error(s); nothing imported\n", imported.errors.size());
    return 2;
  }
  std::error_code ec;
  const bool current = [&] {
    if (!std::filesystem::exists(cfg.store.path, ec)) return false;
    sqlite::database db(cfg.store.path, SQLITE_OPEN_READONLY);
    return db.query_int("PRAGMA user_version") >= static_cast<std::int64_t>(schema_migrations().size());
  }();
  if (!current) {
    // A fresh install (or a store of an older version, while the gateway is
    // stopped): create or migrate it as `run` would.
    system_clock clock(cfg.clock.trust, cfg.clock.min_year);
    store created(cfg.store, clock.boot_id(), clock.now().wall_ms);
  }
  sqlite::database db(cfg.store.path, SQLITE_OPEN_READWRITE);
  db.exec("PRAGMA busy_timeout = 10000");  // `run` may be committing
  replace_imported_devices(db, imported.devices);
  const device_registry registry(cfg.devices, imported.devices);
  std::size_t overridden = 0;
  for (const auto& device : imported.devices) {
    for (const auto& configured : cfg.devices) overridden += configured.id == device.id ? 1 : 0;
  }
  std::cout << fmt::format("device import: {} devices from {} replace the previous import{}\n", imported.devices.size(),
                           csv_file.string(),
                           overridden ? fmt::format(" ({} of them also in the config, which wins)", overridden) : "");
  std::cout << "Restart the gateway to use them: systemctl restart communegw\n";
  return 0;
}

}  // namespace communegw
