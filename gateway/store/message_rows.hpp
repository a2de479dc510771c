#pragma once
// The rows of `messages` that a store::write() batch adds, inserted up to 16
// per INSERT statement instead of one each. Under load a commit covers tens
// to hundreds of messages, and each statement's start, halt and reset cost
// SQLite about as much as a row (callgrind: ~7.1k instructions per row one
// at a time, ~5.1k sixteen at a time; bench/README.md).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "gateway/store/sqlite.hpp"

namespace communegw {

class message_rows {
 public:
  static constexpr std::size_t max_per_insert = 16;

  struct row {
    std::int64_t device = 0;
    std::int64_t topic = 0;
    std::optional<std::int64_t> seq;
    std::optional<std::int64_t> device_ms;
    std::int64_t recv_ms = 0;
    std::int64_t boot = 0;
    std::int64_t mono_ms = 0;
    std::int64_t flags = 0;
    std::uint64_t identity = 0;  // 0: none (NULL)
  };

  explicit message_rows(sqlite::database& db) : db_(&db) {}

  // Queues a row and returns where its readings JSON goes: room for
  // `readings_capacity` bytes; end_readings() then says where the text ends.
  // Not when full(). The row is inserted by the next flush(): call it when
  // full(), before anything needs the row's id, and before the transaction
  // commits.
  char* add(const row& values, std::size_t readings_capacity);
  void end_readings(const char* end) {
    readings_size_[count_ - 1] = static_cast<std::size_t>(end - readings_[count_ - 1].data());
  }
  bool full() const { return count_ == max_per_insert; }
  // Inserts the queued rows in order, so the last one's id is then
  // database::last_insert_rowid(). SQLITE_DONE, or the error code: the caller
  // rolls back the transaction, and the queue is empty either way.
  int flush();
  void clear() { count_ = 0; }

 private:
  // INSERT statements for 1, 2, 4, 8 and 16 rows, prepared on first use.
  sqlite::statement& insert_of(std::size_t rows);

  sqlite::database* db_;
  std::array<std::optional<sqlite::statement>, 5> inserts_;
  std::array<row, max_per_insert> rows_;
  // Reused buffers, only ever grown (no allocation or zero-filling per row),
  // and the length of the text in each.
  std::array<std::string, max_per_insert> readings_;
  std::array<std::size_t, max_per_insert> readings_size_{};
  std::size_t count_ = 0;
};

}  // namespace communegw
