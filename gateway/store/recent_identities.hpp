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
#include <vector>

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

  std::vector<std::uint64_t> ring_;   // insertion order
  std::size_t ring_next_ = 0;
  std::vector<std::uint64_t> table_;  // 0 = empty; linear probing
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace communegw
