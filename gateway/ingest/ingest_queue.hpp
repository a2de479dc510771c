#pragma once
// The hand-off from the MQTT callback thread to the store writer thread, and
// the place where the gateway decides when the broker may be acknowledged.
// It carries messages undecoded (inbound_message.hpp): the writer decodes.
//
// Paho C (1.3.12) sends the PUBACK for a QoS 1 message after our message
// callback returns, and it has a single callback thread (docs/durability.md).
// So the callback pushes the message here and returns only once at most
// `max_uncommitted` messages are ahead of the last commit:
//   - the writer commits continuously (a new transaction as soon as the last
//     one ends, with everything queued meanwhile), so at normal rates a message
//     is acknowledged-but-uncommitted only for one commit (~0.1 ms), and under
//     load batches grow by themselves (group commit);
//   - a crash loses at most `max_uncommitted` acknowledged messages;
//   - max_uncommitted = 0: every message is committed before its acknowledgement
//     (no loss window, one commit per message).
// A rule "wait for your own commit when the writer is idle" would serialise
// everything: with one callback thread the writer is always idle by the time
// the next message is read, and batching would never happen.
// The wait is also the back-pressure: when the store cannot write, callbacks
// block, Paho stops reading, and the broker keeps messages in our session.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

#include "gateway/model/inbound_message.hpp"

namespace communegw {

class ingest_queue {
 public:
  explicit ingest_queue(std::uint64_t max_uncommitted) : max_uncommitted_(max_uncommitted) {}

  // MQTT callback thread. Enqueues and waits as described above. Returns
  // false if the queue was abandoned (the writer gave up at shutdown): the
  // caller must then not let the broker believe the message was stored.
  bool push_and_wait(inbound_message&& message) {
    std::unique_lock lock(mutex_);
    const std::uint64_t ticket = ++last_ticket_;
    // Only the first message wakes the writer: it waits for "not empty", and
    // while it gathers or writes it takes the rest without being told. A wake
    // per message cost a futex call here and a context switch on the other
    // core for each of tens of thousands of messages a second.
    const bool was_empty = empty();
    items_.push_back({ticket, std::move(message)});
    if (was_empty) not_empty_.notify_one();
    committed_cv_.wait(lock, [&] { return abandoned_ || committed_ticket_ + max_uncommitted_ >= ticket; });
    return !abandoned_;
  }

  // Writer thread. Waits up to `wait` for at least one message, then takes
  // what is queued, up to `max`. Returns the ticket of the last message taken
  // (0 if none). `closed` tells the writer no more will come.
  std::uint64_t pop_batch(std::vector<inbound_message>& out, std::size_t max, std::chrono::milliseconds wait,
                          bool& closed) {
    std::unique_lock lock(mutex_);
    not_empty_.wait_for(lock, wait, [&] { return closed_ || !empty(); });
    std::uint64_t last = 0;
    for (std::size_t i = 0; i < max && !empty(); ++i, ++head_) {
      out.push_back(std::move(items_[head_].message));
      last = items_[head_].ticket;
    }
    if (empty()) {
      // Keeps the capacity (no allocation per message) unless a large
      // max_uncommitted let a backlog grow it beyond the usual few thousand.
      if (items_.capacity() > max_kept_capacity) items_ = {};
      else items_.clear();
      head_ = 0;
    } else if (head_ > items_.size() / 2) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    closed = closed_ && empty();
    return last;
  }

  // Writer thread: everything up to `ticket` is committed.
  void mark_committed(std::uint64_t ticket) {
    std::lock_guard lock(mutex_);
    committed_ticket_ = std::max(committed_ticket_, ticket);
    committed_cv_.notify_all();
  }

  // No more messages will be pushed (the subscriber has stopped).
  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    not_empty_.notify_all();
    closed_cv_.notify_all();
  }

  // Writer thread: sleeps up to `duration`, waking early if a message arrives
  // in an empty queue or the queue closes.
  void wait_more_for(std::chrono::milliseconds duration) {
    std::unique_lock lock(mutex_);
    not_empty_.wait_for(lock, duration, [&] { return closed_ || !empty(); });
  }

  // Writer thread: sleeps up to `duration`, waking early only if the queue
  // closes. For gathering a backlog: there a wake per arriving message (the
  // writer takes what is queued, the next push finds the queue empty and
  // wakes it again) cost a futex call and a context switch on both threads
  // per few messages, on the thread whose return sends the PUBACK.
  void sleep_unless_closed(std::chrono::milliseconds duration) {
    std::unique_lock lock(mutex_);
    closed_cv_.wait_for(lock, duration, [&] { return closed_; });
  }

  // The writer is giving up: release waiting callbacks with "not stored".
  void abandon() {
    std::lock_guard lock(mutex_);
    abandoned_ = true;
    committed_cv_.notify_all();
  }

  bool is_closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size() - head_;
  }
  std::uint64_t uncommitted() const {
    std::lock_guard lock(mutex_);
    return last_ticket_ - committed_ticket_;
  }

 private:
  struct entry {
    std::uint64_t ticket;
    inbound_message message;
  };
  static constexpr std::size_t max_kept_capacity = 4096;
  const std::uint64_t max_uncommitted_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable closed_cv_;
  std::condition_variable committed_cv_;
  // Waiting messages are items_[head_…]. Not a std::deque: its nodes are
  // allocated and freed as it grows and shrinks, one per few messages.
  bool empty() const { return head_ == items_.size(); }
  std::vector<entry> items_;
  std::size_t head_ = 0;
  std::uint64_t last_ticket_ = 0;
  std::uint64_t committed_ticket_ = 0;
  bool closed_ = false;
  bool abandoned_ = false;
};

}  // namespace communegw
