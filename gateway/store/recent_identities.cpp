#include "gateway/store/recent_identities.hpp"

#include <new>

namespace communegw {
namespace {

std::size_t table_size_for(std::size_t capacity) {
  std::size_t size = 16;
  while (size < capacity * 2) size <<= 1;
  return size;
}

// The identities are already hashes; mix once more so that low bits spread.
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

}  // namespace

recent_identities::zeroed_array recent_identities::allocate_zeroed(std::size_t count) {
  auto* memory = static_cast<std::uint64_t*>(std::calloc(count, sizeof(std::uint64_t)));
  if (!memory) throw std::bad_alloc();
  return zeroed_array(memory);
}

recent_identities::recent_identities(std::size_t capacity)
    : ring_size_(capacity == 0 ? 1 : capacity),
      ring_(allocate_zeroed(ring_size_)),
      mask_(table_size_for(ring_size_) - 1),
      table_(allocate_zeroed(mask_ + 1)) {}

std::size_t recent_identities::slot_of(std::uint64_t id) const {
  std::size_t slot = mix(id) & mask_;
  while (table_[slot] != 0 && table_[slot] != id) slot = (slot + 1) & mask_;
  return slot;
}

bool recent_identities::contains(std::uint64_t id) const { return id != 0 && table_[slot_of(id)] == id; }

void recent_identities::insert(std::uint64_t id) {
  if (id == 0 || contains(id)) return;
  if (const auto oldest = ring_[ring_next_]; oldest != 0) erase(oldest);
  ring_[ring_next_] = id;
  ring_next_ = (ring_next_ + 1) % ring_size_;
  table_[slot_of(id)] = id;
  ++size_;
}

void recent_identities::erase(std::uint64_t id) {
  if (id == 0) return;
  std::size_t slot = slot_of(id);
  if (table_[slot] != id) return;
  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  table_[slot] = 0;
  --size_;
  std::size_t next = (slot + 1) & mask_;
  while (table_[next] != 0) {
    const std::size_t home = mix(table_[next]) & mask_;
    // Move the entry back if its home is not in the (cyclic) range (slot, next].
    const bool in_range = slot <= next ? (home > slot && home <= next) : (home > slot || home <= next);
    if (!in_range) {
      table_[slot] = table_[next];
      table_[next] = 0;
      slot = next;
    }
    next = (next + 1) & mask_;
  }
}

}  // namespace communegw
