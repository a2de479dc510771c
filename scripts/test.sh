#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this):
#   1. installs what it needs (idempotent apt),
#   2. builds and runs every unit and integration test (real mosquitto, real
#      SQLite files, real TLS, the real communegw binary),
#   3. builds the same tests with AddressSanitizer + UndefinedBehaviorSanitizer
#      and runs them again.
# Usage: scripts/test.sh [--fast]   (--fast: skip the sanitizer pass)
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
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DCOMMUNEGW_SANITIZE=ON -DCOMMUNEGW_BUILD_BENCH=OFF
fi
echo "== all tests passed in $(( $(date +%s) - start )) s"
