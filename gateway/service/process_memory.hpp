#pragma once
// Process-wide allocator settings. main() applies them first.
//
// glibc serves allocations above its mmap threshold (128 KiB) with mmap and
// gives them back to the kernel when freed, but it raises that threshold to
// the size of any mmapped block freed, up to 32 MiB. After one large payload
// (a bridge's device list, a hostile 16 MiB message) later ones came from the
// heap, and freed heap memory below other live blocks is never returned: RSS
// stayed at its high-water mark. A fixed threshold keeps every large buffer
// mmapped, so the memory a large payload took is back with the kernel once
// the payload is done. Other C libraries (musl) return large blocks already.

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace communegw::process_memory {

inline constexpr int mmap_threshold_bytes = 128 * 1024;

inline void configure() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, mmap_threshold_bytes);
#endif
}

// Gives freed heap memory back to the kernel (after a pass that built and
// dropped a large structure, such as an aggregation pass).
inline void give_back_free_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace communegw::process_memory
