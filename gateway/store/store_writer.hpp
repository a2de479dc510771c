#pragma once
// The store writer thread: drains the ingest queue, decodes each message
// (ingest::accept) and commits the results to the store with adaptive group
// commit. It commits continuously: a message that arrives while
// the writer is idle is committed at once (a batch of one); under load,
// whatever queued up during the previous commit goes into the next
// transaction, up to store.max_batch. The loss window this leaves is described
// in docs/durability.md.
//
// When a write fails (disk full, I/O error) the batch stays in memory, the
// store sheds by priority and the write is retried with backoff. Meanwhile
// the queue's acknowledgement rule blocks the MQTT callback, so the broker
// keeps everything else in our persistent session. Nothing is dropped.

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "gateway/ingest/ingest.hpp"
#include "gateway/ingest/ingest_queue.hpp"
#include "gateway/store/store.hpp"

namespace communegw {

struct writer_stats {
  std::atomic<std::uint64_t> stored{0};
  std::atomic<std::uint64_t> duplicates{0};
  std::atomic<std::uint64_t> quarantined{0};
  std::atomic<std::uint64_t> commits{0};
  std::atomic<std::uint64_t> write_failures{0};
  std::atomic<std::uint64_t> pending{0};  // taken from the queue, awaiting a successful write
  std::atomic<std::uint64_t> shed{0};     // rows deleted by quota/disk-floor shedding
  std::atomic<bool> store_writable{true};
  std::atomic<std::uint64_t> lost_at_shutdown{0};  // still unwritable at shutdown; never acknowledged
};

class store_writer {
 public:
  store_writer(store& target, ingest_queue& queue, ingest& decoder, const store_settings& settings);
  ~store_writer();  // stops if still running
  store_writer(const store_writer&) = delete;
  store_writer& operator=(const store_writer&) = delete;

  void start();
  // Closes the queue, commits everything already taken from it, joins.
  void stop();
  const writer_stats& stats() const { return stats_; }

 private:
  void loop();
  void maintain(bool emergency);
  // Takes up to `max` messages from the queue (waiting up to `wait` for the
  // first), decodes them onto `batch`; returns the last one's ticket or 0.
  std::uint64_t take(std::vector<received_message>& batch, std::size_t max, std::chrono::milliseconds wait,
                     bool& closed);

  store& store_;
  ingest_queue& queue_;
  ingest& decoder_;
  queued_batch arrived_;  // take()'s, reused
  // The topic strings of committed messages, handed to the next ones taken:
  // a topic is longer than std::string keeps inline, and allocating and
  // freeing one per message cost ~250 instructions (callgrind).
  std::vector<std::string> spare_topics_;
  store_settings settings_;
  writer_stats stats_;
  std::thread thread_;
};

}  // namespace communegw
