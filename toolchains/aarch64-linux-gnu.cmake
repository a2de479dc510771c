# Cross-compiling for 64-bit Raspberry Pi OS / Debian arm64.
# Needs Debian's crossbuild-essential-arm64 and a target sysroot holding the
# -dev packages (mmdebstrap --variant=extract; see the platform notes):
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=toolchains/aarch64-linux-gnu.cmake \
#         -DCOMMUNEGW_SYSROOT=/var/cache/communegw/sysroot-arm64
# The scripted route (sysroot preparation, emulated tests under qemu) is issue 6.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
if(NOT COMMUNEGW_SYSROOT)
  message(FATAL_ERROR "set COMMUNEGW_SYSROOT to an arm64 sysroot holding the -dev packages")
endif()
set(CMAKE_SYSROOT ${COMMUNEGW_SYSROOT})
set(CMAKE_FIND_ROOT_PATH ${COMMUNEGW_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static;-L;${COMMUNEGW_SYSROOT})
