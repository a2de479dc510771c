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
# Builds overlap the test runs: the tests use about a third of one core (they
# mostly wait on brokers and message rates), so the next build runs meanwhile,
# at nice 10 so that the tests still get the CPU whenever they want it. Each
# background build writes its own log (build*.log), printed when it ends.
# Usage: scripts/test.sh [--fast]   (--fast: skip the sanitizer, fuzzing and cross passes)
# FUZZ_SECONDS sets the time per fuzz target (default: 60 s native, 30 s others).
# COMMUNEGW_SKIP_CROSS=1 skips step 5 alone.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${JOBS:-2}

scripts/install-deps.sh

# Line tables only (-g1): enough for sanitizer and crash backtraces, and the
# full -g made the heaviest files compile 1.5 times slower.
line_tables_o2="-O2 -g1 -DNDEBUG"

build_tree() {
  local dir=$1; shift
  echo "== configure + build: $dir ($*)"
  cmake -S "$root" -B "$dir" -G Ninja "$@" >/dev/null
  ninja -C "$dir" -j"$jobs"
}

run_tests() {
  local dir=$1
  echo "== tests: $dir"
  # One at a time: the integration tests measure behaviour under a steady
  # message rate, and this machine has two cores.
  ctest --test-dir "$dir" --output-on-failure --timeout 600
}

# Runs "$@" (a command or a function of this script) in the background at
# nice 10, output to $log; `finish_background` waits for it and shows the log
# (all of it on failure, the tail otherwise).
background_pid=""
background_log=""
start_background() {
  background_log=$1; shift
  echo "== in the background (log: $background_log): $*"
  (renice -n 10 "$BASHPID" >/dev/null; "$@") >"$background_log" 2>&1 &
  background_pid=$!
}
finish_background() {
  local status=0
  wait "$background_pid" || status=$?
  if ((status != 0)); then
    echo "== background step failed ($background_log):"
    cat "$background_log"
    exit "$status"
  fi
  echo "== background step done ($background_log):"
  tail -n 5 "$background_log"
}

fuzz_targets=(native_driver_fuzz zigbee2mqtt_driver_fuzz tasmota_driver_fuzz esphome_driver_fuzz frigate_driver_fuzz
              epever_driver_fuzz chirpstack_driver_fuzz things_stack_driver_fuzz json_mapping_driver_fuzz
              sparkplug_driver_fuzz)

build_fuzzers() {
  echo "== configure + build: build-fuzz (clang, libFuzzer targets only)"
  cmake -S "$root" -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$line_tables_o2" \
    -DCOMMUNEGW_BUILD_FUZZ=ON -DCOMMUNEGW_BUILD_TESTS=OFF -DCOMMUNEGW_BUILD_BENCH=OFF >/dev/null
  ninja -C build-fuzz -j"$jobs" "${fuzz_targets[@]}" sparkplug_fuzz_seeds
}

build_cross() {
  if [[ "${COMMUNEGW_SKIP_CROSS:-}" == 1 ]]; then
    echo "cross build: skipped (COMMUNEGW_SKIP_CROSS=1)"
  else
    JOBS=$jobs scripts/test-cross.sh aarch64 --unit-only --build-only
  fi
}

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
fuzz_lane() { local t; for t in "$@"; do fuzz_one "$t" || return 1; done; }

start=$(date +%s)
build_tree build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$line_tables_o2" -DCOMMUNEGW_BUILD_BENCH=ON
if [[ "${1:-}" == "--fast" ]]; then
  run_tests build
  echo "== all tests passed in $(( $(date +%s) - start )) s"
  exit 0
fi

start_background build-asan.log build_tree build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1" \
  -DCOMMUNEGW_SANITIZE=ON -DCOMMUNEGW_BUILD_BENCH=OFF
run_tests build
finish_background

build_fuzzers_and_cross() { build_fuzzers; build_cross; }
start_background build-fuzz-cross.log build_fuzzers_and_cross
# detect_leaks: Paho keeps a few process-lifetime allocations; leaks in our
# code are caught by the unit tests, which run without Paho threads.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan-suppressions.txt:print_suppressions=0} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  run_tests build-asan
finish_background

echo "== fuzzing (libFuzzer, ${FUZZ_SECONDS:-60} s for the native driver, ${FUZZ_SECONDS:-30} s for each other, two at a time)"
# Sparkplug fixtures are text; its seeds are their protobuf bytes.
build-fuzz/tests/fuzz/sparkplug_fuzz_seeds build-fuzz/seeds/sparkplug >/dev/null
# Two lanes, one per core, of about equal length (60 + 4 x 30 s, 5 x 30 s).
fuzz_lane "${fuzz_targets[@]:0:5}" & lane1=$!
fuzz_lane "${fuzz_targets[@]:5}" & lane2=$!
fuzz_ok=true
wait "$lane1" || fuzz_ok=false
wait "$lane2" || fuzz_ok=false
$fuzz_ok || { echo "== fuzzing found a crash"; exit 1; }

if [[ "${COMMUNEGW_SKIP_CROSS:-}" == 1 ]]; then
  echo "== cross build: skipped (COMMUNEGW_SKIP_CROSS=1)"
else
  echo "== aarch64 unit tests under qemu (built above)"
  JOBS=$jobs scripts/test-cross.sh aarch64 --unit-only --test-only
fi
echo "== all tests passed in $(( $(date +%s) - start )) s"
