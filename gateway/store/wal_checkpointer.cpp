#include "gateway/store/wal_checkpointer.hpp"

#include <chrono>

#include <spdlog/spdlog.h>

#include "gateway/log/rate_limited_log.hpp"
#include "gateway/store/sqlite.hpp"

namespace communegw {
namespace {

constexpr auto check_interval = std::chrono::milliseconds(250);
// The same threshold SQLite's automatic checkpoint used (256 pages of 4 KiB).
constexpr std::uintmax_t checkpoint_at_bytes = 1 << 20;

}  // namespace

wal_checkpointer::wal_checkpointer(std::filesystem::path db_path) : db_path_(std::move(db_path)) {}

wal_checkpointer::~wal_checkpointer() { stop(); }

void wal_checkpointer::start() { thread_ = std::thread([this] { loop(); }); }

void wal_checkpointer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void wal_checkpointer::loop() {
  rate_limited_log failure_log(std::chrono::seconds(60));
  std::optional<sqlite::database> db;
  const std::filesystem::path wal = db_path_.string() + "-wal";
  while (true) {
    {
      std::unique_lock lock(mutex_);
      if (wake_.wait_for(lock, check_interval, [&] { return stopping_; })) return;
    }
    std::error_code ec;
    const auto size = std::filesystem::file_size(wal, ec);
    if (ec || size < checkpoint_at_bytes) continue;
    try {
      if (!db) db.emplace(db_path_, SQLITE_OPEN_READWRITE);
      // PASSIVE: never waits for the writer; what it cannot copy now it copies next time.
      const int rc = db->try_exec("PRAGMA wal_checkpoint(PASSIVE)");
      if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        failure_log.log(spdlog::level::warn, "store: background checkpoint failed: {} ({})", db->error_message(), rc);
      }
    } catch (const sqlite::error& error) {
      failure_log.log(spdlog::level::warn, "store: background checkpoint cannot open the store: {}", error.what());
      db.reset();
    }
  }
}

}  // namespace communegw
