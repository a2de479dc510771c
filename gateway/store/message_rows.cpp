#include "gateway/store/message_rows.hpp"

#include <bit>

namespace communegw {

char* message_rows::add(const row& values, std::size_t readings_capacity) {
  rows_[count_] = values;
  auto& readings = readings_[count_];
  readings_size_[count_] = 0;
  ++count_;
  if (readings.size() < readings_capacity) readings.resize(readings_capacity);
  return readings.data();
}

sqlite::statement& message_rows::insert_of(std::size_t rows) {
  auto& cached = inserts_[static_cast<std::size_t>(std::countr_zero(rows))];
  if (!cached) {
    // OR FAIL, not the default ABORT: with more than one row, ABORT keeps a
    // statement journal so that a failing row can undo the rows before it
    // (two rows per statement then cost more than one each). Here any
    // failure rolls back the whole transaction (store::write) instead.
    std::string sql = "INSERT OR FAIL INTO messages";
    sql += "(device, topic, seq, device_ms, recv_ms, boot, mono_ms, flags, identity, readings) VALUES";
    for (std::size_t i = 0; i < rows; ++i) sql += i == 0 ? "(?,?,?,?,?,?,?,?,?,?)" : ",(?,?,?,?,?,?,?,?,?,?)";
    cached.emplace(db_->prepare(sql));
  }
  return *cached;
}

int message_rows::flush() {
  std::size_t done = 0;
  int rc = SQLITE_DONE;
  while (done < count_ && rc == SQLITE_DONE) {
    const std::size_t rows = std::bit_floor(count_ - done);  // 16, 8, 4, 2, 1: at most five statements
    auto& insert = insert_of(rows);
    for (std::size_t i = 0; i < rows; ++i) {
      const auto& r = rows_[done + i];
      const int first = static_cast<int>(i * 10);
      insert.bind(first + 1, r.device)
          .bind(first + 2, r.topic)
          .bind(first + 3, r.seq)
          .bind(first + 4, r.device_ms)
          .bind(first + 5, r.recv_ms)
          .bind(first + 6, r.boot)
          .bind(first + 7, r.mono_ms)
          .bind(first + 8, r.flags)
          .bind(first + 9, r.identity != 0 ? std::optional(static_cast<std::int64_t>(r.identity)) : std::nullopt)
          .bind_borrowed(first + 10, std::string_view(readings_[done + i].data(), readings_size_[done + i]));
    }
    rc = insert.step();
    // Before the readings buffers change. Every parameter is bound again
    // before the statement's next step, so none needs clearing.
    insert.reset_keeping_bindings();
    done += rows;
  }
  count_ = 0;
  return rc;
}

}  // namespace communegw
