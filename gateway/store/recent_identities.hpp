#pragma once
// The identities (64-bit hashes) of the most recently stored messages, for
// dropping redeliveries. MQTT redelivers a message byte for byte, and only
// recent ones (those in flight or not yet acknowledged when a connection or
// the gateway died), so a bounded window is enough. It is kept in memory and
// rebuilt from the store at start-up. A unique SQLite index would do the same
// job, but inserts into it are scattered across every device's key range and
// multiply the pages each commit writes to the SD card.
//
// Fixed memory: 24 bytes per entry (ring of insertion order + open-addressing
// table at most half full). Oldest entries are forgotten first.
// Not thread-safe: owned by the store, used by the writer thread.

#include <cstdint>
#include <cstdlib>
#include <memory>

namespace communegw {

class recent_identities {
 public:
  explicit recent_identities(std::size_t capacity);

  bool contains(std::uint64_t id) const;
  // Adds an identity; forgets the oldest one when full. 0 is not a valid identity.
  void insert(std::uint64_t id);
  void erase(std::uint64_t id);
  std::size_t size() const { return size_; }

 private:
  std::size_t slot_of(std::uint64_t id) const;

  // calloc, not std::vector: a large calloc gets fresh zero pages from the
  // kernel, so the window (2.8 MiB for the default 100,000) costs neither a
  // memset at start-up nor resident memory until it fills.
  struct free_deleter {
    void operator()(std::uint64_t* p) const { std::free(p); }
  };
  using zeroed_array = std::unique_ptr<std::uint64_t[], free_deleter>;
  static zeroed_array allocate_zeroed(std::size_t count);

  std::size_t ring_size_;
  zeroed_array ring_;  // insertion order
  std::size_t ring_next_ = 0;
  std::size_t mask_;    // the table's size - 1 (a power of two)
  zeroed_array table_;  // 0 = empty; linear probing
  std::size_t size_ = 0;
};

}  // namespace communegw
