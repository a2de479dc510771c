# Shared by the Raspberry Pi toolchain files: Debian's cross compiler for
# COMMUNEGW_TRIPLET, a bookworm sysroot holding the target's -dev packages,
# and qemu-user-static to run what is built (tests, doctest discovery).
# scripts/prepare-cross.sh installs the compiler and qemu and makes the
# sysroot; scripts/test-cross.sh does all of it and runs the tests.
#
# The sysroot is COMMUNEGW_SYSROOT if given (-DCOMMUNEGW_SYSROOT=...), else
# $COMMUNEGW_SYSROOT_CACHE, else /var/cache/communegw/sysroot-<debian arch>
# (where prepare-cross.sh puts it).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${COMMUNEGW_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${COMMUNEGW_TRIPLET}-g++)

if(NOT COMMUNEGW_SYSROOT)
  if(DEFINED ENV{COMMUNEGW_SYSROOT_CACHE})
    set(COMMUNEGW_SYSROOT $ENV{COMMUNEGW_SYSROOT_CACHE})
  else()
    set(COMMUNEGW_SYSROOT /var/cache/communegw/sysroot-${COMMUNEGW_DEBIAN_ARCH})
  endif()
endif()
if(NOT EXISTS ${COMMUNEGW_SYSROOT}/usr/include)
  message(FATAL_ERROR "no ${COMMUNEGW_DEBIAN_ARCH} sysroot at ${COMMUNEGW_SYSROOT}: run scripts/prepare-cross.sh "
                      "or set COMMUNEGW_SYSROOT")
endif()
set(COMMUNEGW_SYSROOT ${COMMUNEGW_SYSROOT} CACHE PATH "target sysroot (scripts/prepare-cross.sh)")
# try_compile projects read this file again: hand them the same sysroot.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES COMMUNEGW_SYSROOT)

set(CMAKE_SYSROOT ${COMMUNEGW_SYSROOT})
set(CMAKE_FIND_ROOT_PATH ${COMMUNEGW_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# pkg-config (zstd has only a .pc file) must read the target's .pc files and
# prefix their paths with the sysroot, never fall back to the build machine's.
set(ENV{PKG_CONFIG_SYSROOT_DIR} ${COMMUNEGW_SYSROOT})
set(ENV{PKG_CONFIG_LIBDIR}
    ${COMMUNEGW_SYSROOT}/usr/lib/${COMMUNEGW_TRIPLET}/pkgconfig:${COMMUNEGW_SYSROOT}/usr/share/pkgconfig)
unset(ENV{PKG_CONFIG_PATH})

# ctest runs the test programs through this, and doctest discovers tests with it.
# -L: the target's dynamic loader and libraries come from the sysroot only
# (never mix in a multiarch libc, see the platform notes).
set(CMAKE_CROSSCOMPILING_EMULATOR ${COMMUNEGW_QEMU};-L;${COMMUNEGW_SYSROOT})
