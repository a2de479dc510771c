#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this):
#   1. installs what it needs (idempotent apt),
#   2. builds and runs every unit and integration test (real mosquitto, real
#      SQLite files, real TLS, the real communegw binary),
#   3. builds the same tests with AddressSanitizer + UndefinedBehaviorSanitizer
#      and runs them again,
#   4. fuzzes every decoder with libFuzzer (clang, ASan + UBSan), a minute for
#      the native driver and 30 s for each device driver, starting from the
#      seed payloads in tests/data/, two targets at a time;
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

# Line tables only (-g1): enough for sanitizer and crash backtraces, and the
# full -g made the heaviest files compile 1.5 times slower.
line_tables_o2="-O2 -g1 -DNDEBUG"

start=$(date +%s)
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$line_tables_o2" -DCOMMUNEGW_BUILD_BENCH=ON
if [[ "${1:-}" != "--fast" ]]; then
  # detect_leaks: Paho keeps a few process-lifetime allocations; leaks in our
  # code are caught by the unit tests, which run without Paho threads.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
  LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan-suppressions.txt:print_suppressions=0} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1" -DCOMMUNEGW_SANITIZE=ON -DCOMMUNEGW_BUILD_BENCH=OFF

  echo "== fuzzing (libFuzzer, ${FUZZ_SECONDS:-60} s for the native driver, ${FUZZ_SECONDS:-30} s for each other, two at a time)"
  cmake -S "$root" -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$line_tables_o2" \
    -DCOMMUNEGW_BUILD_FUZZ=ON -DCOMMUNEGW_BUILD_TESTS=OFF -DCOMMUNEGW_BUILD_BENCH=OFF >/dev/null
  fuzz_targets=(native_driver_fuzz zigbee2mqtt_driver_fuzz tasmota_driver_fuzz esphome_driver_fuzz frigate_driver_fuzz
                epever_driver_fuzz chirpstack_driver_fuzz things_stack_driver_fuzz json_mapping_driver_fuzz
                sparkplug_driver_fuzz)
  ninja -C build-fuzz -j"$jobs" "${fuzz_targets[@]}" sparkplug_fuzz_seeds
  # Sparkplug fixtures are text; its seeds are their protobuf bytes.
  build-fuzz/tests/fuzz/sparkplug_fuzz_seeds build-fuzz/seeds/sparkplug >/dev/null
  fuzz_one() {
    local target=$1 seconds=${FUZZ_SECONDS:-30} seeds="tests/data/${1%_driver_fuzz}"
    [[ $target == native_driver_fuzz ]] && seconds=${FUZZ_SECONDS:-60}
    [[ $target == sparkplug_driver_fuzz ]] && seeds=build-fuzz/seeds/sparkplug
    mkdir -p "build-fuzz/corpus/$target"
    # A crash makes libFuzzer exit non-zero; the crashing input is written
    # to build-fuzz/ for reproduction.
    if "build-fuzz/tests/fuzz/$target" -max_total_time="$seconds" -print_final_stats=1 \
         -artifact_prefix=build-fuzz/ "build-fuzz/corpus/$target" "$seeds" >"build-fuzz/$target.log" 2>&1; then
      echo "-- $target: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/$target.log" | grep -o '[0-9]*$') runs in $seconds s, no finding"
    else
      echo "-- $target: FAILED (build-fuzz/$target.log):"; tail -40 "build-fuzz/$target.log"; return 1
    fi
  }
  # Two lanes, one per core, of about equal length (60 + 4 x 30 s, 5 x 30 s).
  fuzz_lane() { local t; for t in "$@"; do fuzz_one "$t" || return 1; done; }
  fuzz_lane "${fuzz_targets[@]:0:5}" & lane1=$!
  fuzz_lane "${fuzz_targets[@]:5}" & lane2=$!
  fuzz_ok=true
  wait "$lane1" || fuzz_ok=false
  wait "$lane2" || fuzz_ok=false
  $fuzz_ok || { echo "== fuzzing found a crash"; exit 1; }

  if [[ "${COMMUNEGW_SKIP_CROSS:-}" == 1 ]]; then
    echo "== cross build: skipped (COMMUNEGW_SKIP_CROSS=1)"
  else
    echo "== cross build for aarch64, unit tests under qemu"
    JOBS=$jobs scripts/test-cross.sh aarch64 --unit-only
  fi
fi
echo "== all tests passed in $(( $(date +%s) - start )) s"
