#pragma once
// Named integer positions kept in the store's `cursors` table: how far the
// aggregator has read `messages` and `events`, the next sequence number of each
// uplink stream, running totals. Written inside the caller's transaction, so
// a position moves together with the rows it accounts for.

#include <cstdint>
#include <string_view>

#include "gateway/store/sqlite.hpp"

namespace communegw {

class cursors {
 public:
  explicit cursors(sqlite::database& db);

  std::int64_t get(std::string_view name, std::int64_t fallback = 0);
  int set(std::string_view name, std::int64_t value);  // SQLITE_DONE on success
  int add(std::string_view name, std::int64_t delta);

 private:
  sqlite::statement get_, set_, add_;
};

}  // namespace communegw
