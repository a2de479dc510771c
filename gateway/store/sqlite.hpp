#pragma once
// Thin RAII over the SQLite C API: a connection and prepared statements.
// Errors at open/prepare time throw sqlite_error (start-up problems); step()
// returns the SQLite result code so steady-state callers decide what a failure
// means (SQLITE_FULL is an expected condition, not an exception).

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace communegw::sqlite {

// Process-wide SQLite settings; main() calls it before any connection opens
// (later it has no effect). Turns SQLite's memory statistics off: keeping
// them takes a global mutex on every allocation and free (~500 instructions
// per stored message), and nothing here reads them.
void configure_process();

class error : public std::runtime_error {
 public:
  error(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }
  // The file itself is damaged or not a database (SQLITE_CORRUPT, SQLITE_NOTADB):
  // what the store recovers from by moving it aside. Permissions, a missing
  // directory or a full disk are not.
  bool damaged_file() const {
    const int primary = code_ & 0xff;
    return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
  }

 private:
  int code_;
};

class statement {
 public:
  statement() = default;
  statement(sqlite3* db, std::string_view sql);
  statement(statement&&) noexcept = default;
  statement& operator=(statement&&) noexcept = default;

  // Inline: eleven binds per stored message.
  statement& bind(int index, std::int64_t value) {
    sqlite3_bind_int64(stmt_.get(), index, value);
    return *this;
  }
  statement& bind(int index, double value);
  statement& bind(int index, std::string_view text);  // SQLite copies the text
  // Not copied: the text must stay unchanged until reset() (only step()
  // reads it; rebind before stepping again if it may have moved). For the hot path,
  // where a copy per row is a malloc, a memcpy and a free.
  statement& bind_borrowed(int index, std::string_view text) {
    sqlite3_bind_text(stmt_.get(), index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
    return *this;
  }
  statement& bind_blob(int index, std::string_view bytes);
  statement& bind_null(int index) {
    sqlite3_bind_null(stmt_.get(), index);
    return *this;
  }
  template <typename T>
  statement& bind(int index, const std::optional<T>& value) {
    return value ? bind(index, *value) : bind_null(index);
  }

  int step();   // SQLITE_ROW, SQLITE_DONE or an error code
  void reset();  // also clears bindings
  // Ready to step again with the same bindings (SQLite's reset keeps them).
  // For a hot statement whose caller binds every parameter before each step:
  // sqlite3_clear_bindings costs ~10 instructions per parameter, 110 per
  // stored message.
  void reset_keeping_bindings() { sqlite3_reset(stmt_.get()); }

  std::int64_t column_int(int index) const;
  double column_double(int index) const;
  std::string_view column_text(int index) const;
  bool column_is_null(int index) const;

  sqlite3_stmt* get() const { return stmt_.get(); }

 private:
  struct finalizer {
    void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
  };
  std::unique_ptr<sqlite3_stmt, finalizer> stmt_;
};

class database {
 public:
  // flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, or SQLITE_OPEN_READONLY.
  database(const std::filesystem::path& path, int flags);

  void exec(std::string_view sql);  // throws; for schema and pragmas
  int try_exec(std::string_view sql);  // returns the result code; for steady state
  statement prepare(std::string_view sql) { return statement(db_.get(), sql); }
  std::int64_t query_int(std::string_view sql);  // first column of first row; throws if none
  std::string error_message() const { return sqlite3_errmsg(db_.get()); }
  std::int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(db_.get()); }
  int changes() const { return sqlite3_changes(db_.get()); }
  sqlite3* get() const { return db_.get(); }

  // Transaction control through statements prepared once: sqlite3_exec would
  // parse "BEGIN"/"COMMIT" again for every transaction.
  int begin_immediate() { return run_cached(begin_, "BEGIN IMMEDIATE"); }
  int commit() { return run_cached(commit_, "COMMIT"); }
  int rollback() { return run_cached(rollback_, "ROLLBACK"); }

 private:
  int run_cached(std::optional<statement>& cached, std::string_view sql);

  struct closer {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  std::unique_ptr<sqlite3, closer> db_;
  // Declared after db_: statements are finalised before the connection closes.
  std::optional<statement> begin_, commit_, rollback_;
};

// Runs a transaction body; rolls back unless commit() was called and succeeded.
class transaction {
 public:
  explicit transaction(database& db);
  ~transaction();
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  int begin_result() const { return begin_rc_; }
  int commit();

 private:
  database& db_;
  int begin_rc_;
  bool open_;
};

}  // namespace communegw::sqlite
