#include "gateway/store/wal_checkpointer.hpp"

#include <pthread.h>

#include <spdlog/spdlog.h>

namespace communegw {

wal_checkpointer::wal_checkpointer(const std::filesystem::path& path, bool synchronous_full)
    : db_(path, SQLITE_OPEN_READWRITE) {
  // A checkpoint's fsyncs follow the connection's own setting: the store's.
  db_.exec(synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
  thread_ = std::thread([this] { loop(); });
}

wal_checkpointer::~wal_checkpointer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void wal_checkpointer::request() {
  {
    std::lock_guard lock(mutex_);
    if (requested_) return;
    requested_ = true;
  }
  wake_.notify_one();
}

std::uint64_t wal_checkpointer::completed() const {
  std::lock_guard lock(mutex_);
  return completed_;
}

void wal_checkpointer::loop() {
  pthread_setname_np(pthread_self(), "wal-checkpoint");  // top -H, perf, gdb
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return requested_ || stopping_; });
    if (stopping_) return;
    requested_ = false;
    lock.unlock();
    // PASSIVE: never waits for the writer or readers. Busy (another
    // checkpoint at the same moment, e.g. the writer's own) is not an error:
    // that one does the work.
    const int rc = sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      // A full disk fails every checkpoint until space returns.
      failure_log_.log(spdlog::level::warn, "store: WAL checkpoint failed: {} ({}); the writer will ask again",
                       db_.error_message(), rc);
    }
    lock.lock();
    ++completed_;
  }
}

}  // namespace communegw
