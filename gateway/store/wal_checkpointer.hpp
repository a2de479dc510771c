#pragma once
// Checkpoints the store's WAL from a connection and thread of its own.
//
// A checkpoint copies WAL pages into the database and, with
// synchronous=NORMAL, is where the fsyncs happen. Run inside a commit (SQLite's
// automatic checkpoint) it stalls the writer for the length of an fsync (long
// on an SD card), and while the writer stalls, acknowledged-but-uncommitted
// messages pile up: the crash-loss window grows. Here the writer only ever
// appends to the WAL; this thread checkpoints when the WAL passes a size.
//
// Used by `communegw run`, which then turns the writer connection's
// automatic checkpoint off (store::disable_auto_checkpoint).

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

namespace communegw {

class wal_checkpointer {
 public:
  explicit wal_checkpointer(std::filesystem::path db_path);
  ~wal_checkpointer();
  wal_checkpointer(const wal_checkpointer&) = delete;
  wal_checkpointer& operator=(const wal_checkpointer&) = delete;

  void start();
  void stop();  // finishes a checkpoint in progress, then joins

 private:
  void loop();

  std::filesystem::path db_path_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace communegw
