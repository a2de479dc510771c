#include "gateway/store/sqlite.hpp"

#include <fmt/format.h>

namespace communegw::sqlite {

void configure_process() {
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

statement::statement(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  stmt_.reset(raw);
  if (rc != SQLITE_OK) throw error(rc, fmt::format("preparing \"{}\": {}", sql, sqlite3_errmsg(db)));
}

statement& statement::bind(int index, double value) {
  sqlite3_bind_double(stmt_.get(), index, value);
  return *this;
}
statement& statement::bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_.get(), index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}
statement& statement::bind_blob(int index, std::string_view bytes) {
  sqlite3_bind_blob(stmt_.get(), index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  return *this;
}

int statement::step() { return sqlite3_step(stmt_.get()); }

void statement::reset() {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
}

std::int64_t statement::column_int(int index) const { return sqlite3_column_int64(stmt_.get(), index); }
double statement::column_double(int index) const { return sqlite3_column_double(stmt_.get(), index); }
std::string_view statement::column_text(int index) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_.get(), index));
  return text ? std::string_view(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_.get(), index))) : std::string_view{};
}
bool statement::column_is_null(int index) const { return sqlite3_column_type(stmt_.get(), index) == SQLITE_NULL; }

database::database(const std::filesystem::path& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  db_.reset(raw);
  if (rc != SQLITE_OK) {
    throw error(rc, fmt::format("opening {}: {}", path.string(), raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(raw, 1);
  // Before anything else: a reader (`communegw query`, a backup) may hold a
  // lock while the store is being created or switched to WAL.
  sqlite3_busy_timeout(raw, 5000);
}

void database::exec(std::string_view sql) {
  const int rc = try_exec(sql);
  if (rc != SQLITE_OK) throw error(rc, fmt::format("\"{}\": {}", sql.substr(0, 80), error_message()));
}

int database::try_exec(std::string_view sql) {
  const std::string copy(sql);
  return sqlite3_exec(db_.get(), copy.c_str(), nullptr, nullptr, nullptr);
}

std::int64_t database::query_int(std::string_view sql) {
  auto stmt = prepare(sql);
  const int rc = stmt.step();
  if (rc != SQLITE_ROW) throw error(rc, fmt::format("\"{}\": {}", sql, error_message()));
  return stmt.column_int(0);
}

int database::run_cached(std::optional<statement>& cached, std::string_view sql) {
  if (!cached) cached.emplace(db_.get(), sql);
  const int rc = cached->step();
  cached->reset();
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

transaction::transaction(database& db) : db_(db), begin_rc_(db.begin_immediate()), open_(begin_rc_ == SQLITE_OK) {}

transaction::~transaction() {
  if (open_) db_.rollback();
}

int transaction::commit() {
  const int rc = db_.commit();
  if (rc == SQLITE_OK) open_ = false;
  // On failure the transaction may still be open; the destructor rolls it back.
  if (rc != SQLITE_OK && sqlite3_get_autocommit(db_.get())) open_ = false;
  return rc;
}

}  // namespace communegw::sqlite
