#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this):
#   1. installs what it needs (idempotent apt),
#   2. builds and runs every unit and integration test (real mosquitto, real
#      SQLite files, real TLS, the real communegw binary),
#   3. builds the same tests with AddressSanitizer + UndefinedBehaviorSanitizer
#      and runs them again,
#   4. fuzzes every decoder with libFuzzer (clang, ASan + UBSan), a minute for
#      the native driver and 30 s for each device driver, starting from the
#      seed payloads in tests/data/;
#   5. cross-builds for the 64-bit Raspberry Pi (aarch64) and runs the unit
#      tests under qemu (scripts/test-cross.sh aarch64 --unit-only). The full
#      cross set, integration tests included, takes longer than CI's budget
#      allows: run scripts/test-cross.sh aarch64|armhf for it (docs/cross-build.md).
# Usage: scripts/test.sh [--fast]   (--fast: skip the sanitizer, fuzzing and cross passes)
# FUZZ_SECONDS sets the time per fuzz target (default: 60 s native, 30 s others).
# COMMUNEGW_SKIP_CROSS=1 skips step 5 alone.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${JOBS:-2}

scripts/install-deps.sh

run_suite() {
  local dir=$1; shift
  echo "== configure + build: $dir ($*)"
  cmake -S "$root" -B "$dir" -G Ninja "$@" >/dev/null
  ninja -C "$dir" -j"$jobs"
  echo "== tests: $dir"
  # One at a time: the integration tests measure behaviour under a steady
  # message rate, and this machine has two cores.
  ctest --test-dir "$dir" --output-on-failure --timeout 600
}

start=$(date +%s)
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOMMUNEGW_BUILD_BENCH=ON
if [[ "${1:-}" != "--fast" ]]; then
  # detect_leaks: Paho keeps a few process-lifetime allocations; leaks in our
  # code are caught by the unit tests, which run without Paho threads.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
  LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan-suppressions.txt:print_suppressions=0} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DCOMMUNEGW_SANITIZE=ON -DCOMMUNEGW_BUILD_BENCH=OFF

  echo "== fuzzing (libFuzzer, ${FUZZ_SECONDS:-60} s for the native driver, ${FUZZ_SECONDS:-30} s for each other)"
  cmake -S "$root" -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCOMMUNEGW_BUILD_FUZZ=ON -DCOMMUNEGW_BUILD_TESTS=OFF -DCOMMUNEGW_BUILD_BENCH=OFF >/dev/null
  for target in native_driver_fuzz zigbee2mqtt_driver_fuzz tasmota_driver_fuzz esphome_driver_fuzz frigate_driver_fuzz \
                epever_driver_fuzz chirpstack_driver_fuzz things_stack_driver_fuzz json_mapping_driver_fuzz \
                sparkplug_driver_fuzz; do
    if [[ $target == native_driver_fuzz ]]; then seconds=${FUZZ_SECONDS:-60}; else seconds=${FUZZ_SECONDS:-30}; fi
    ninja -C build-fuzz -j"$jobs" "$target"
    seeds="tests/data/${target%_driver_fuzz}"
    if [[ $target == sparkplug_driver_fuzz ]]; then
      # Sparkplug fixtures are text; the seeds are their protobuf bytes.
      ninja -C build-fuzz -j"$jobs" sparkplug_fuzz_seeds
      build-fuzz/tests/fuzz/sparkplug_fuzz_seeds build-fuzz/seeds/sparkplug >/dev/null
      seeds=build-fuzz/seeds/sparkplug
    fi
    mkdir -p "build-fuzz/corpus/$target"
    # A crash makes libFuzzer exit non-zero (and set -e stops the run); the
    # crashing input is written to build-fuzz/ for reproduction.
    "build-fuzz/tests/fuzz/$target" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix=build-fuzz/ "build-fuzz/corpus/$target" "$seeds" 2>&1 | tail -3
  done

  if [[ "${COMMUNEGW_SKIP_CROSS:-}" == 1 ]]; then
    echo "== cross build: skipped (COMMUNEGW_SKIP_CROSS=1)"
  else
    echo "== cross build for aarch64, unit tests under qemu"
    JOBS=$jobs scripts/test-cross.sh aarch64 --unit-only
  fi
fi
echo "== all tests passed in $(( $(date +%s) - start )) s"
