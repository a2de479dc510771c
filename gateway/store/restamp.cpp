#include "gateway/store/restamp.hpp"

#include <algorithm>

namespace communegw {

restamper::restamper(sqlite::database& db, std::string_view boot_id)
    : db_(db),
      messages_(db.prepare("UPDATE messages SET recv_ms = mono_ms + ?1, flags = flags | 1 | 8 "
                           "WHERE id > ?2 AND id <= ?3 AND boot = ?4 AND (flags & 1) = 0")),
      events_(db.prepare("UPDATE events SET recv_ms = mono_ms + ?1, flags = flags | 1 | 8 "
                         "WHERE id > ?2 AND id <= ?3 AND boot = ?4 AND (flags & 1) = 0")) {
  auto find = db.prepare("SELECT id FROM boots WHERE boot_id = ?");
  find.bind(1, boot_id);
  if (find.step() == SQLITE_ROW) boot_row_ = find.column_int(0);
  // Only rows of this boot can be re-stamped, and none of them is older than
  // the first row of this boot: start there, not at the beginning of the table.
  if (boot_row_ >= 0) {
    auto first = db.prepare("SELECT coalesce((SELECT min(id) FROM messages WHERE boot = ?1), 0), "
                            "coalesce((SELECT min(id) FROM events WHERE boot = ?1), 0)");
    first.bind(1, boot_row_);
    if (first.step() == SQLITE_ROW) {
      message_position_ = std::max<std::int64_t>(0, first.column_int(0) - 1);
      event_position_ = std::max<std::int64_t>(0, first.column_int(1) - 1);
    }
  }
}

restamp_result restamper::run(std::int64_t wall_minus_mono_ms, std::int64_t limit) {
  restamp_result result;
  if (boot_row_ < 0) return result;
  const auto newest_message = db_.query_int("SELECT coalesce(max(id), 0) FROM messages");
  const auto newest_event = db_.query_int("SELECT coalesce(max(id), 0) FROM events");
  const auto to_message = std::min(newest_message, message_position_ + limit);
  const auto to_event = std::min(newest_event, event_position_ + limit);
  if (to_message <= message_position_ && to_event <= event_position_) return result;

  sqlite::transaction txn(db_);
  if (txn.begin_result() != SQLITE_OK) return {txn.begin_result()};
  for (auto* stmt : {&messages_, &events_}) {
    const bool is_messages = stmt == &messages_;
    stmt->bind(1, wall_minus_mono_ms)
        .bind(2, is_messages ? message_position_ : event_position_)
        .bind(3, is_messages ? to_message : to_event)
        .bind(4, boot_row_);
    const int rc = stmt->step();
    stmt->reset();
    if (rc != SQLITE_DONE) return {rc};
    (is_messages ? result.messages : result.events) = db_.changes();
  }
  if (const int rc = txn.commit(); rc != SQLITE_OK) return {rc};
  message_position_ = to_message;
  event_position_ = to_event;
  return result;
}

}  // namespace communegw
