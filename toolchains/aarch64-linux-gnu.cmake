# Cross-compiling for 64-bit Raspberry Pi OS / Debian arm64 (Pi 3, 4, 5, Zero 2).
#   scripts/prepare-cross.sh aarch64        # compiler, qemu, sysroot (cached)
#   cmake -S . -B build-cross-aarch64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=toolchains/aarch64-linux-gnu.cmake
# or all of it, tests under qemu included: scripts/test-cross.sh aarch64
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(COMMUNEGW_TRIPLET aarch64-linux-gnu)
set(COMMUNEGW_DEBIAN_ARCH arm64)
set(COMMUNEGW_QEMU qemu-aarch64-static)
include(${CMAKE_CURRENT_LIST_DIR}/debian-sysroot.cmake)
