#include "gateway/store/cursors.hpp"

namespace communegw {

cursors::cursors(sqlite::database& db)
    : get_(db.prepare("SELECT value FROM cursors WHERE name = ?")),
      set_(db.prepare("INSERT INTO cursors(name, value) VALUES(?, ?) "
                      "ON CONFLICT(name) DO UPDATE SET value = excluded.value")),
      add_(db.prepare("INSERT INTO cursors(name, value) VALUES(?, ?) "
                      "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value")) {}

std::int64_t cursors::get(std::string_view name, std::int64_t fallback) {
  get_.bind(1, name);
  const auto value = get_.step() == SQLITE_ROW ? get_.column_int(0) : fallback;
  get_.reset();
  return value;
}

int cursors::set(std::string_view name, std::int64_t value) {
  set_.bind(1, name).bind(2, value);
  const int rc = set_.step();
  set_.reset();
  return rc;
}

int cursors::add(std::string_view name, std::int64_t delta) {
  add_.bind(1, name).bind(2, delta);
  const int rc = add_.step();
  add_.reset();
  return rc;
}

}  // namespace communegw
