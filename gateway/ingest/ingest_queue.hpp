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
// Large payloads (over large_payload_bytes) are not copied: the queue keeps
// their MQTT message (inbound_message::owner), freed when the writer's next
// batch replaces them (rare enough not to meet Paho's allocator lock). They
// are also bounded by their bytes: a callback returns only while at most
// max_large_uncommitted_bytes of them are uncommitted, or when its message is
// the oldest uncommitted one. A hundred 16 MiB messages behind one commit
// were 1.6 GB in this queue.
//
// The queue copies each message's topic and payload into one buffer of its
// own, and the writer takes that buffer whole (a swap) with the batch. Keeping
// Paho's message object until the writer had decoded it, as we first did,
// made the writer free it: ~mqtt::message frees its properties through Paho
// C's allocator, which takes one process-wide mutex, the one Paho's receive
// thread takes for every allocation while reading a packet. The two threads
// met there thousands of times a second (perf sched_switch: ~4,000 futex
// waits on the receive thread in a 200k drain), and glibc's arena lock added
// more for the C++ bytes allocated on one thread and freed on the other.
// Copying ~250 bytes costs less than one such wait, and the two buffers are
// reused: no allocation per message on either side.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "gateway/model/inbound_message.hpp"

namespace communegw {

namespace detail {
// Trivially destructible: clearing a batch of them is one store.
struct queued_entry {
  std::uint64_t ticket;
  std::size_t offset;  // of the topic in the bytes, the payload follows it (unless owned_payload is set)
  std::size_t topic_size;
  std::size_t payload_size;
  std::size_t payload_bytes_left_out;
  time_stamp received;
  delivery_flags flags;
  // A large payload: not in the bytes but in its MQTT message, which the
  // queue's or the batch's `owners` keep alive.
  const char* owned_payload = nullptr;
};
static_assert(std::is_trivially_destructible_v<queued_entry>);
// The MQTT messages of large payloads, with their tickets, oldest first.
using message_owners = std::vector<std::pair<std::uint64_t, std::shared_ptr<const void>>>;
}  // namespace detail

// What the writer takes from the queue in one go. It owns the messages' bytes
// until the next take into it; its buffers are handed back to the queue then,
// so neither side allocates per message.
class queued_batch {
 public:
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  inbound_message operator[](std::size_t i) const {
    const auto& e = entries_[i];
    const std::string_view all(bytes_);
    const auto payload = e.owned_payload ? std::string_view(e.owned_payload, e.payload_size)
                                         : all.substr(e.offset + e.topic_size, e.payload_size);
    return {all.substr(e.offset, e.topic_size), payload, e.payload_bytes_left_out, e.received, e.flags};
  }

 private:
  friend class ingest_queue;
  std::vector<detail::queued_entry> entries_;
  std::string bytes_;
  detail::message_owners owners_;
};

class ingest_queue {
 public:
  // Large payloads uncommitted at most, but for the oldest uncommitted message (see above).
  static constexpr std::size_t max_large_uncommitted_bytes = 16u << 20;

  explicit ingest_queue(std::uint64_t max_uncommitted) : max_uncommitted_(max_uncommitted) {}

  // MQTT callback thread. Copies the message in and waits as described above.
  // Returns false if the queue was abandoned (the writer gave up at
  // shutdown): the caller must then not let the broker believe the message
  // was stored.
  bool push_and_wait(const inbound_message& message) {
    std::unique_lock lock(mutex_);
    const std::uint64_t ticket = ++last_ticket_;
    // Only the first message wakes the writer: it waits for "not empty", and
    // while it gathers or writes it takes the rest without being told. A wake
    // per message cost a futex call here and a context switch on the other
    // core for each of tens of thousands of messages a second.
    const bool was_empty = empty();
    const bool keep_message = message.owner != nullptr;
    items_.push_back({ticket, bytes_.size(), message.topic.size(), message.payload.size(),
                      message.payload_bytes_left_out, message.received, message.flags,
                      keep_message ? message.payload.data() : nullptr});
    bytes_.append(message.topic);
    if (keep_message) owners_.emplace_back(ticket, message.owner);
    else bytes_.append(message.payload);
    if (message.payload.size() > large_payload_bytes) {
      large_pending_.emplace_back(ticket, message.payload.size());
      large_uncommitted_bytes_ += message.payload.size();
    }
    if (was_empty) not_empty_.notify_one();
    const auto may_return = [&] {
      return abandoned_ || (committed_ticket_ + max_uncommitted_ >= ticket &&
                            (large_uncommitted_bytes_ <= max_large_uncommitted_bytes || committed_ticket_ + 1 == ticket));
    };
    if (!may_return()) {
      // Held back by the store: counted, so that a slow disk shows up (the stats line, the benchmark).
      const auto since = std::chrono::steady_clock::now();
      committed_cv_.wait(lock, may_return);
      ++held_back_;
      held_back_time_ += std::chrono::steady_clock::now() - since;
    }
    return !abandoned_;
  }

  // Writer thread. Waits up to `wait` for at least one message, then takes
  // what is queued, up to `max`, into `out` (replacing what it held). Returns
  // the ticket of the last message taken (0 if none). `closed` tells the
  // writer no more will come.
  std::uint64_t pop_batch(queued_batch& out, std::size_t max, std::chrono::milliseconds wait, bool& closed) {
    // The spent buffers, emptied outside the lock; a buffer grown by a backlog
    // of large payloads goes back to the allocator. (Swapped with an empty
    // one: `= {}` is assign(initializer_list), which keeps the capacity.)
    if (out.entries_.capacity() > max_kept_capacity) std::vector<detail::queued_entry>().swap(out.entries_);
    else out.entries_.clear();
    if (out.bytes_.capacity() > max_kept_bytes) std::string().swap(out.bytes_);
    else out.bytes_.clear();
    out.owners_.clear();  // the large payloads' messages are freed here, on the writer's thread

    std::unique_lock lock(mutex_);
    not_empty_.wait_for(lock, wait, [&] { return closed_ || !empty(); });
    std::uint64_t last = 0;
    if (!empty() && max > 0) {
      // Whatever is taken, the queue's bytes go to the writer and the
      // writer's spent buffer becomes the queue's.
      out.bytes_.swap(bytes_);
      if (head_ == 0 && items_.size() <= max) {
        // The usual case, everything: a swap, nothing copied under the lock.
        out.entries_.swap(items_);
        out.owners_.swap(owners_);
      } else {
        const std::size_t taken = std::min(max, items_.size() - head_);
        const auto first = items_.begin() + static_cast<std::ptrdiff_t>(head_);
        out.entries_.assign(first, first + static_cast<std::ptrdiff_t>(taken));
        head_ += taken;
        // The taken messages' owners go with them.
        const auto last_taken = out.entries_.back().ticket;
        const auto owned_end = std::find_if(owners_.begin(), owners_.end(),
                                            [&](const auto& owner) { return owner.first > last_taken; });
        out.owners_.assign(std::make_move_iterator(owners_.begin()), std::make_move_iterator(owned_end));
        owners_.erase(owners_.begin(), owned_end);
        if (!empty()) {
          // Those left waiting keep their bytes in the queue's buffer.
          const auto base = items_[head_].offset;
          bytes_.append(out.bytes_, base);
          for (auto i = head_; i < items_.size(); ++i) items_[i].offset -= base;
        }
      }
      last = out.entries_.back().ticket;
    }
    if (empty()) {
      items_.clear();
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
    while (!large_pending_.empty() && large_pending_.front().first <= committed_ticket_) {
      large_uncommitted_bytes_ -= large_pending_.front().second;
      large_pending_.pop_front();
    }
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
  // How often, and for how long in all, the MQTT callback waited for a commit.
  std::uint64_t held_back() const {
    std::lock_guard lock(mutex_);
    return held_back_;
  }
  std::chrono::milliseconds held_back_time() const {
    std::lock_guard lock(mutex_);
    return std::chrono::duration_cast<std::chrono::milliseconds>(held_back_time_);
  }
  std::uint64_t uncommitted() const {
    std::lock_guard lock(mutex_);
    return last_ticket_ - committed_ticket_;
  }

 private:
  // Buffers are kept for reuse unless a backlog with a large max_uncommitted
  // grew them beyond the usual few thousand messages of ~250 bytes.
  static constexpr std::size_t max_kept_capacity = 4096;
  static constexpr std::size_t max_kept_bytes = 4u << 20;
  const std::uint64_t max_uncommitted_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable closed_cv_;
  std::condition_variable committed_cv_;
  // Waiting messages are items_[head_…]. Not a std::deque: its nodes are
  // allocated and freed as it grows and shrinks, one per few messages.
  bool empty() const { return head_ == items_.size(); }
  std::vector<detail::queued_entry> items_;
  std::string bytes_;  // the topics and payloads of items_[head_…]
  detail::message_owners owners_;  // of the large payloads among items_[head_…]
  std::size_t head_ = 0;
  std::uint64_t last_ticket_ = 0;
  std::uint64_t committed_ticket_ = 0;
  // Uncommitted messages over large_payload_bytes: (ticket, payload bytes), oldest first.
  std::deque<std::pair<std::uint64_t, std::size_t>> large_pending_;
  std::size_t large_uncommitted_bytes_ = 0;
  bool closed_ = false;
  bool abandoned_ = false;
  std::uint64_t held_back_ = 0;
  std::chrono::steady_clock::duration held_back_time_{};
};

}  // namespace communegw
