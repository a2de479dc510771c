#!/usr/bin/env bash
# Cross-builds communegw for a Raspberry Pi architecture and runs its tests on
# the cross-built binaries under qemu-user-static:
#   1. prepare: host packages and the cached target sysroot (scripts/prepare-cross.sh),
#      plus the host's test tools (mosquitto, openssl: scripts/install-deps.sh);
#   2. build into build-cross-<arch>/ with toolchains/<triplet>.cmake
#      (with --unit-only, only the unit test program);
#   3. the unit tests under qemu;
#   4. the integration tests under qemu (skipped with --unit-only): mosquitto
#      and openssl run natively, the test program and every communegw /
#      communegw-sim it starts run under qemu, with the tests' deadlines
#      scaled (COMMUNEGW_TEST_TIME_SCALE, default 5; tests/CMakeLists.txt);
#   5. the Debian package (skipped with --unit-only): checked by
#      tests/deploy/debian_package_test.sh, then left in build-cross-<arch>/.
# Prints how long each phase took.
#
# Usage: scripts/test-cross.sh <aarch64|armhf> [--unit-only] [--build-only|--test-only]
# JOBS sets the build parallelism (default 2). --build-only stops after step 2,
# --test-only starts at step 3 (CI builds while other tests run, then tests).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${JOBS:-2}

arch=${1:-}
case "$arch" in
  aarch64) toolchain=toolchains/aarch64-linux-gnu.cmake ;;
  armhf) toolchain=toolchains/arm-linux-gnueabihf.cmake ;;
  *)
    echo "usage: $0 <aarch64|armhf> [--unit-only] [--build-only|--test-only]" >&2
    exit 2
    ;;
esac
unit_only=false
do_build=true
do_test=true
for option in "${@:2}"; do
  case "$option" in
    --unit-only) unit_only=true ;;
    --build-only) do_test=false ;;
    --test-only) do_build=false ;;
    *)
      echo "usage: $0 <aarch64|armhf> [--unit-only] [--build-only|--test-only]" >&2
      exit 2
      ;;
  esac
done
build=build-cross-$arch

phases=()
phase_start=0
begin() {
  echo "== $1"
  phase_start=$(date +%s)
}
finish() { phases+=("$(printf '%-24s %5d s' "$1" $(($(date +%s) - phase_start)))"); }
summary() {
  echo "== times ($arch)"
  printf '   %s\n' "${phases[@]}"
}
trap summary EXIT

if $do_build; then
  begin "prepare ($arch)"
  scripts/install-deps.sh
  sysroot=$(scripts/prepare-cross.sh "$arch" | tail -n1)
  finish prepare

  begin "configure + build: $build (sysroot $sysroot)"
  cmake --no-warn-unused-cli -S "$root" -B "$build" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DCOMMUNEGW_SYSROOT="$sysroot" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCOMMUNEGW_BUILD_BENCH=OFF >/dev/null
  # -g1 (line tables): backtraces under qemu need no more, and the package is stripped anyway.
  if $unit_only; then
    # Only what the unit tests need: no CLI, simulator or integration tests.
    ninja -C "$build" -j"$jobs" communegw_unit_tests
  else
    ninja -C "$build" -j"$jobs"
  fi
  finish build
fi
$do_test || exit 0

begin "unit tests under qemu"
ctest --test-dir "$build" --output-on-failure -R '^unit:'
finish "unit tests"

if ! $unit_only; then
  begin "integration tests under qemu"
  # One at a time, as natively: several tests keep a steady message rate.
  ctest --test-dir "$build" --output-on-failure -R '^integration:'
  finish "integration tests"

  begin "Debian package"
  # Control fields, conffiles, contents, lintian (tests/deploy); then the
  # package itself into the build directory.
  tests/deploy/debian_package_test.sh "$root/$build" "$root"
  cmake --build "$build" --target package >/dev/null
  ls -l "$build"/communegw_*.deb
  finish "package"
fi
