# Cross-compiling for 32-bit Debian armhf (ARMv7 with VFPv3 and hard float:
# Pi 2 and later running a 32-bit OS; Debian's armhf does not run on the
# ARMv6 Pi 1 / Zero).
#   scripts/prepare-cross.sh armhf          # compiler, qemu, sysroot (cached)
#   cmake -S . -B build-cross-armhf -G Ninja -DCMAKE_TOOLCHAIN_FILE=toolchains/arm-linux-gnueabihf.cmake
# or all of it, tests under qemu included: scripts/test-cross.sh armhf
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(COMMUNEGW_TRIPLET arm-linux-gnueabihf)
set(COMMUNEGW_DEBIAN_ARCH armhf)
set(COMMUNEGW_QEMU qemu-arm-static)
# 64-bit time_t and off_t (glibc >= 2.34): the store keeps times past 2038 and
# files past 2 GiB. gateway/clock/clock.cpp asserts sizeof(time_t) == 8.
# Every library we link passes no time_t or off_t through its API (see
# docs/cross-build.md), so they need not have been built the same way.
set(CMAKE_C_FLAGS_INIT "-D_TIME_BITS=64 -D_FILE_OFFSET_BITS=64")
# -Wno-psabi: GCC notes on every std::vector<T>::iterator passed by value that
# its passing "changed in GCC 7.1"; it only matters when linking with code
# built by GCC < 7, and bookworm is built with GCC 12.
# SIMDJSON_NO_PORTABILITY_WARNING: simdjson says at every include that a
# 32-bit target gets its portable kernel, not NEON (docs/cross-build.md).
set(CMAKE_CXX_FLAGS_INIT "-D_TIME_BITS=64 -D_FILE_OFFSET_BITS=64 -Wno-psabi -DSIMDJSON_NO_PORTABILITY_WARNING")
include(${CMAKE_CURRENT_LIST_DIR}/debian-sysroot.cmake)
