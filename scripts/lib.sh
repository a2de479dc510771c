# Shell helpers shared by the demo and the benchmarks (sourced, not run).
# Set `log_prefix` before sourcing. Processes a script starts go into
# `started_pids`; they are stopped (TERM, then KILL) when the script exits,
# after which an `on_exit` function runs if the script defines one.

say() { printf '%s: %s\n' "${log_prefix:-communegw}" "$*" >&2; }
die() { say "error: $*"; exit 1; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
# json_number <file> <key>: the first number stored under "key" in a JSON file.
json_number() { sed -n "s/.*\"$2\": *\([0-9.]*\).*/\1/p" "$1" | head -1; }

started_pids=()
stop_started() {
  local pid
  for pid in "${started_pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  sleep 0.3
  for pid in "${started_pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  if declare -F on_exit >/dev/null; then on_exit; fi
}
trap stop_started EXIT
trap 'die "interrupted"' INT TERM

# A free loopback port: bash's /dev/tcp fails to connect where nothing listens.
free_port() {
  local candidate
  for _ in $(seq 1 50); do
    candidate=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then echo "$candidate"; return; fi
  done
  die "no free loopback port found"
}

# wait_log <file> <pattern> <timeout_s>: until the pattern appears in the file.
wait_log() {
  local deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# ensure_bench_tools <tool...>: installs the benchmark dependencies when a tool
# or python3-paho-mqtt is missing.
ensure_bench_tools() {
  local tool missing=0
  for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || missing=1; done
  /usr/bin/python3 -c 'import paho.mqtt' 2>/dev/null || missing=1
  if ((missing)); then
    say "installing the benchmark's dependencies (scripts/install-deps.sh --bench)"
    "$(dirname "${BASH_SOURCE[0]}")/install-deps.sh" --bench
  fi
}
