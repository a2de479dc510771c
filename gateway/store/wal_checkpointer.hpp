#pragma once
// WAL checkpoints on a thread and connection of their own.
//
// A checkpoint copies the WAL's pages into the database file and fsyncs both:
// 4-8 ms on the dev VM per MiB of WAL, far more on an SD card. Run by the
// store writer, those milliseconds were milliseconds in which nothing was
// committed, so at backlog rates the MQTT thread soon had
// store.max_uncommitted messages waiting and was held back (~35 times per
// 200k messages in bench/run.sh). Here the writer only asks; it goes on
// committing while the checkpoint runs (WAL mode lets one writer and one
// checkpointer work at once: the checkpoint copies the frames committed
// before it started).
//
// SQLite starts the WAL file over only when a commit finds every frame
// copied, so while the writer commits faster than checkpoints finish the WAL
// keeps growing; the store then checkpoints on the writer's own connection
// (store::checkpoint_if_due).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <thread>

#include "gateway/log/rate_limited_log.hpp"
#include "gateway/store/sqlite.hpp"

namespace communegw {

class wal_checkpointer {
 public:
  // Opens its own connection to the store at `path` (which exists, in WAL mode).
  wal_checkpointer(const std::filesystem::path& path, bool synchronous_full);
  ~wal_checkpointer();  // finishes a checkpoint in progress, then stops
  wal_checkpointer(const wal_checkpointer&) = delete;
  wal_checkpointer& operator=(const wal_checkpointer&) = delete;

  // Any thread: run a checkpoint soon. Requests made while one is pending or
  // running are served by the next.
  void request();
  // Checkpoints completed (PASSIVE: each copied what it could).
  std::uint64_t completed() const;

 private:
  void loop();

  sqlite::database db_;
  rate_limited_log failure_log_{std::chrono::seconds(60)};
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool requested_ = false;
  bool stopping_ = false;
  std::uint64_t completed_ = 0;
  std::thread thread_;  // started once the connection is set up; it alone uses db_ then
};

}  // namespace communegw
