#!/usr/bin/env bash
# The ingest benchmark in one command (bench/README.md explains what and why):
#   bench/run.sh
# Builds build-bench/ (Release) if needed, starts its own mosquitto on a free
# loopback port, runs every measurement, prints a table with the targets, and
# leaves logs and raw outputs in build-bench/bench-results/<time>/.
# Exit status: 0 when the benchmark ran (even if a target was MISSED, which
# the table says clearly), 1 when it could not run.
#
# Knobs (environment): BENCH_N (200000), BENCH_N_PYTHON (20000),
# BENCH_N_CALLGRIND (20000), BENCH_CALLGRIND_RUNS (5), BENCH_KILL_RATE (2000 msg/s), BENCH_KILL_SECONDS (30),
# BENCH_KILLS (5), BENCH_F_STORE (extra [store] lines for (f)), BENCH_PAYLOAD (200 bytes), BENCH_ROUNDS (3: rounds of a and b),
# BENCH_JOBS (1: build jobs),
# BENCH_BUILD_DIR, BENCH_OUT, BENCH_SKIP (space-separated: a b c d f).
set -Eeuo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BENCH_BUILD_DIR:-$repo/build-bench}
jobs=${BENCH_JOBS:-1}
n=${BENCH_N:-200000}
n_python=${BENCH_N_PYTHON:-20000}
n_callgrind=${BENCH_N_CALLGRIND:-20000}
callgrind_runs=${BENCH_CALLGRIND_RUNS:-5}
kill_rate=${BENCH_KILL_RATE:-2000}
kill_seconds=${BENCH_KILL_SECONDS:-30}
kills=${BENCH_KILLS:-5}
payload=${BENCH_PAYLOAD:-200}
rounds=${BENCH_ROUNDS:-3}
skip=" ${BENCH_SKIP:-} "
stations=100  # devices the benchmark traffic comes from (distinct device, seq pairs)
out=${BENCH_OUT:-$build/bench-results/$(date +%Y%m%dT%H%M%S)}

# Targets (README "Targets").
target_callgrind_extra=15000  # instructions per message beyond the raw subscriber
target_disk_ratio=2           # bytes written to disk per byte of payload
target_loss_per_kill=1        # messages lost per SIGKILL

# say, die, calc, json_number, wait_log; processes in started_pids stop on exit.
log_prefix=bench
source "$repo/scripts/lib.sh"
skipped() { [[ "$skip" == *" $1 "* ]]; }
now() { date +%s.%N; }

# ---- dependencies and build ---------------------------------------------------
ensure_bench_tools cmake ninja mosquitto sqlite3 valgrind /usr/bin/time /usr/bin/python3

mkdir -p "$build"
if [[ ! -f "$build/build.ninja" ]]; then
  # Warnings are not errors here: at -O3 GCC 12 reports false positives
  # (-Wrestrict inside std::string) that the default build never sees.
  say "configuring $build (Release)"
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCOMMUNEGW_BUILD_TESTS=OFF \
    -DCOMMUNEGW_BUILD_BENCH=ON >"$build/bench-configure.log" 2>&1 ||
    { tail -30 "$build/bench-configure.log" >&2; die "cmake failed (see $build/bench-configure.log)"; }
fi
say "building (ninja -j$jobs; set BENCH_JOBS for more)"
ninja -C "$build" -j"$jobs" communegw communegw-sim communegw-bench-raw-subscriber >"$build/bench-build.log" 2>&1 ||
  { tail -30 "$build/bench-build.log" >&2; die "build failed (see $build/bench-build.log)"; }
gateway_bin=$build/gateway/communegw
sim_bin=$build/tools/sim/communegw-sim
raw_bin=$build/bench/communegw-bench-raw-subscriber
python_sub=$repo/bench/naive_subscriber.py

mkdir -p "$out"
say "results and logs: $out"

# ---- broker --------------------------------------------------------------------
port=$(free_port)
broker=tcp://127.0.0.1:$port
sed "s/@PORT@/$port/" "$repo/bench/mosquitto.conf" >"$out/mosquitto.conf"
mosquitto -c "$out/mosquitto.conf" >"$out/mosquitto.log" 2>&1 &
mosquitto_pid=$!
started_pids+=("$mosquitto_pid")
for _ in $(seq 50); do
  (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
(: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null || die "mosquitto did not start (see $out/mosquitto.log)"

# ---- helpers ---------------------------------------------------------------------
# publish <commune> <count> <summary.json> [sim options...]: bench payloads at QoS 1, checked.
publish() {
  local commune=$1 count=$2 summary=$3
  shift 3
  "$sim_bin" --broker "$broker" --commune "$commune" --bench-payload --bench-bytes "$payload" \
    --env-stations "$stations" --count "$count" --qos 1 --summary-json "$summary" -q "$@" ||
    die "communegw-sim failed publishing to $commune"
}

# gateway_config <dir> <client id> <commune> [store setting]: a store of its own, one topic filter.
gateway_config() {
  mkdir -p "$1"
  cat >"$1/communegw.toml" <<EOF
[gateway]
id = "bench"
province = "bench"
commune = "$3"
[mqtt]
uri = "$broker"
client_id = "$2"
# Long: under callgrind the gateway runs ~50x slower.
keepalive = "300s"
[store]
path = "gateway.db"
${4:-}
[log]
stats_interval = "10s"
[driver.native]
topics = ["commune/$3/+/+/+"]
EOF
}
# The data itself, not the counters table: counters are written at most once a second.
stored() { sqlite3 -readonly "$1" "SELECT count(*) FROM messages" 2>/dev/null || echo 0; }
# wait_stored <db> <n> <timeout s>: polls the store read-only every 0.1 s.
wait_stored() {
  local deadline=$((SECONDS + $3)) value
  while ((SECONDS < deadline)); do
    value=$(stored "$1")
    ((${value:-0} >= $2)) && return 0
    sleep 0.1
  done
  return 1
}
# prime_gateway <dir>: one short run so the broker holds the gateway's session.
prime_gateway() {
  "$gateway_bin" -c "$1/communegw.toml" run >"$1/prime.log" 2>&1 &
  local pid=$!
  started_pids+=("$pid")
  wait_log "$1/prime.log" "mqtt: subscribed" 30 || die "the gateway did not subscribe (see $1/prime.log)"
  kill -TERM "$pid"
  wait "$pid" || die "the gateway did not stop cleanly (see $1/prime.log)"
}
child_of() { awk '{print $1}' "/proc/$1/task/$1/children" 2>/dev/null; }
callgrind_total() { sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$1" | head -1; }

declare -A r  # results

# ---- (a) raw Paho C++ subscriber and (b) the gateway, in alternating rounds ----------
# measure_a <tag>, measure_b <tag>: one drain each; results r[<key><tag>].
# Rates on this shared VM move by up to 20 % between runs, so (a) and (b)
# alternate for BENCH_ROUNDS rounds and the ratio is reported per round and
# as the median. The first round (tag "") also gives RSS and the disk figures.
# cpu_seconds <pid>: user + system CPU time of a whole process so far.
# (Fields after the ")" that ends the command name, so a name with spaces cannot shift them.)
clock_ticks=$(getconf CLK_TCK)
cpu_seconds() { sed 's/^.*) //' "/proc/$1/stat" | awk -v hz="$clock_ticks" '{printf "%.3f\n", ($12 + $13) / hz}'; }

# CPU time of the subscriber and of the broker during a drain (r[<a|ap|b>_cpu_sub<tag>],
# r[<a|ap|b>_cpu_broker<tag>]).
#
# measure_a <tag> [a|ap]: "a" is the raw subscriber with Paho's defaults, the
# issue's floor; "ap" (a') is the same with the gateway's process-wide Paho
# settings (gateway/mqtt/paho_process.hpp), the like-for-like floor.
measure_a() {
  local tag=$1 side=${2:-a} t0 t1 broker0 settings=() what="(a$1) raw subscriber"
  local dir=$out/$side$tag client=communegw-bench-$side$tag topic="commune/bench-$side$tag/+/+/+"
  if [[ "$side" == ap ]]; then
    settings=(--gateway-paho-settings)
    what="(a'$tag) raw subscriber with the gateway's Paho settings"
  fi
  say "$what: $n messages queued while it is offline, then drained"
  mkdir -p "$dir"
  "$raw_bin" --broker "$broker" --client-id "$client" --topic "$topic" --subscribe-only >"$dir/prime.log"
  publish "bench-$side$tag" "$n" "$dir/published.json"
  broker0=$(cpu_seconds "$mosquitto_pid")
  t0=$(now)
  /usr/bin/time -f "%U %S" -o "$dir/time.txt" \
    "$raw_bin" --broker "$broker" --client-id "$client" --topic "$topic" "${settings[@]}" --count "$n" >"$dir/run.log" 2>&1 ||
    die "raw subscriber failed (see $dir/run.log)"
  t1=$(now)
  r[${side}_cpu_broker$tag]=$(calc %.3f "$(cpu_seconds "$mosquitto_pid") - $broker0")
  r[${side}_cpu_sub$tag]=$(awk '{printf "%.3f\n", $1 + $2}' "$dir/time.txt")
  r[${side}_s$tag]=$(calc %.3f "$t1 - $t0")
  r[${side}_rate$tag]=$(calc %.0f "$n / ($t1 - $t0)")
}

measure_b() {
  local tag=$1 dir=$out/b$1 t0 t1 time_pid gw_pid payload_bytes broker0
  say "(b$tag) communegw run: $n messages queued while it is offline, then decoded and committed"
  gateway_config "$dir" "communegw-bench-b$tag" "bench-b$tag"
  prime_gateway "$dir"
  publish "bench-b$tag" "$n" "$dir/published.json"
  payload_bytes=$(json_number "$dir/published.json" payload_bytes)
  broker0=$(cpu_seconds "$mosquitto_pid")
  t0=$(now)
  (cd "$dir" && exec /usr/bin/time -v -o "$dir/time.txt" "$gateway_bin" -c communegw.toml run >"$dir/run.log" 2>&1) &
  time_pid=$!
  started_pids+=("$time_pid")
  gw_pid=""
  for _ in $(seq 100); do
    gw_pid=$(child_of "$time_pid")
    [[ -n "$gw_pid" ]] && break
    sleep 0.01
  done
  [[ -n "$gw_pid" ]] || die "cannot find the gateway's process under /usr/bin/time"
  started_pids+=("$gw_pid")
  wait_stored "$dir/gateway.db" "$n" 1800 || die "the gateway did not store $n messages within 30 min (see $dir/run.log)"
  t1=$(now)
  r[b_cpu_broker$tag]=$(calc %.3f "$(cpu_seconds "$mosquitto_pid") - $broker0")
  r[b_cpu_sub$tag]=$(cpu_seconds "$gw_pid")
  r[b_s$tag]=$(calc %.3f "$t1 - $t0")
  r[b_rate$tag]=$(calc %.0f "$n / ($t1 - $t0)")
  cp "/proc/$gw_pid/io" "$dir/proc-io.txt"
  cp "/proc/$gw_pid/status" "$dir/proc-status.txt"
  kill -TERM "$gw_pid"
  wait "$time_pid" || say "warning: the gateway exited non-zero (see $dir/run.log)"
  r[b_commits$tag]=$(sed -n 's/.*stopped: .* in \([0-9]*\) commits.*/\1/p' "$dir/run.log")
  r[b_held$tag]=$(sed -n 's/.*waited for the store \([0-9]*\) times, \([0-9]*\) ms.*/\1 times, \2 ms/p' "$dir/run.log")
  r[b_hwm_kib$tag]=$(awk '/^VmHWM:/ {print $2}' "$dir/proc-status.txt")
  r[b_maxrss_kib$tag]=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$dir/time.txt")
  r[b_write_bytes$tag]=$(awk '/^write_bytes:/ {print $2}' "$dir/proc-io.txt")
  r[b_wchar$tag]=$(awk '/^wchar:/ {print $2}' "$dir/proc-io.txt")
  r[b_total_write_bytes$tag]=$(awk -F': ' '/File system outputs/ {print $2 * 512}' "$dir/time.txt")
  r[payload_bytes$tag]=$payload_bytes
  r[e_ratio$tag]=$(calc %.2f "${r[b_write_bytes$tag]} / $payload_bytes")
  r[e_ratio_total$tag]=$(calc %.2f "${r[b_total_write_bytes$tag]} / $payload_bytes")
  r[e_wchar_ratio$tag]=$(calc %.2f "${r[b_wchar$tag]} / $payload_bytes")
  r[b_db_bytes$tag]=$(stat -c %s "$dir/gateway.db")
}

round_tags=("")
for ((round = 2; round <= rounds; round++)); do round_tags+=("-$round"); done
for tag in "${round_tags[@]}"; do
  skipped a || measure_a "$tag" a
  skipped a || measure_a "$tag" ap
  skipped b || measure_b "$tag"
done
# median <values...>
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {printf "%.15g\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
if ! skipped b; then
  b_rates=()
  for tag in "${round_tags[@]}"; do b_rates+=("${r[b_rate$tag]}"); done
  r[b_rate_median]=$(median "${b_rates[@]}")
fi
if ! skipped a && ! skipped b; then
  for side in a ap; do
    ratios=() a_rates=()
    for tag in "${round_tags[@]}"; do
      r[b$side$tag]=$(calc %.3f "${r[b_rate$tag]} / ${r[${side}_rate$tag]}")
      ratios+=("${r[b$side$tag]}")
      a_rates+=("${r[${side}_rate$tag]}")
    done
    r[b${side}_median]=$(calc %.3f "$(median "${ratios[@]}")")
    r[${side}_rate_median]=$(median "${a_rates[@]}")
  done
fi
# CPU per message (µs) and cores busy during the drains, medians over the rounds.
for side in a ap b; do
  skipped "${side:0:1}" && continue
  subs=() brokers=() busy=()
  for tag in "${round_tags[@]}"; do
    subs+=("$(calc %.2f "${r[${side}_cpu_sub$tag]} * 1e6 / $n")")
    brokers+=("$(calc %.2f "${r[${side}_cpu_broker$tag]} * 1e6 / $n")")
    busy+=("$(calc %.2f "(${r[${side}_cpu_sub$tag]} + ${r[${side}_cpu_broker$tag]}) / ${r[${side}_s$tag]}")")
  done
  r[${side}_us_sub]=$(median "${subs[@]}")
  r[${side}_us_broker]=$(median "${brokers[@]}")
  r[${side}_us_total]=$(calc %.2f "${r[${side}_us_sub]} + ${r[${side}_us_broker]}")
  r[${side}_cores_busy]=$(median "${busy[@]}")
done

# ---- (c) naive Python subscriber -----------------------------------------------------
if ! skipped c; then
  say "(c) naive Python subscriber: $n_python messages (commit per message; rates are compared, not times)"
  mkdir -p "$out/c"
  /usr/bin/python3 "$python_sub" --broker "$broker" --client-id communegw-bench-c --topic "commune/bench-c/+/+/+" --subscribe-only >"$out/c/prime.log"
  publish bench-c "$n_python" "$out/c/published.json"
  t0=$(now)
  /usr/bin/python3 "$python_sub" --broker "$broker" --client-id communegw-bench-c --topic "commune/bench-c/+/+/+" \
    --count "$n_python" --db "$out/c/naive.db" >"$out/c/run.log" 2>&1 || die "naive subscriber failed (see $out/c/run.log)"
  t1=$(now)
  r[c_s]=$(calc %.3f "$t1 - $t0")
  r[c_rate]=$(calc %.0f "$n_python / ($t1 - $t0)")
fi

# ---- (d) callgrind: instructions per message ----------------------------------------
if ! skipped d; then
  say "(d) callgrind: raw subscriber and gateway, $n_callgrind messages each, plus start-up alone"
  mkdir -p "$out/d"
  # The gateway's own cost: against the raw subscriber with the same Paho
  # settings (a'). One run with Paho's defaults shows what those settings save.
  raw_defaults_args=(--broker "$broker" --client-id communegw-bench-da --topic "commune/bench-da/+/+/+")
  raw_args=("${raw_defaults_args[@]}" --gateway-paho-settings)
  "$raw_bin" "${raw_args[@]}" --subscribe-only >"$out/d/raw-prime.log"
  publish bench-da "$n_callgrind" "$out/d/raw-defaults-published.json"
  valgrind --tool=callgrind -q --callgrind-out-file="$out/d/callgrind.raw-defaults.out" "$raw_bin" "${raw_defaults_args[@]}" \
    --count "$n_callgrind" >"$out/d/raw-defaults.log" 2>&1 || die "callgrind raw run failed (see $out/d/raw-defaults.log)"
  valgrind --tool=callgrind -q --callgrind-out-file="$out/d/callgrind.raw-startup.out" "$raw_bin" "${raw_args[@]}" --subscribe-only \
    >"$out/d/raw-startup.log" 2>&1 || die "callgrind raw start-up run failed (see $out/d/raw-startup.log)"
  # Paho's own instruction count moves by up to ~2% (about 1,400 per message)
  # from run to run with how its threads interleave, in the raw subscriber and
  # the gateway alike: the raw subscriber and the gathering gateway run
  # $callgrind_runs times each and the medians are compared.
  raw_totals=()
  for ((run = 1; run <= callgrind_runs; run++)); do
    suffix=$( ((run == 1)) || echo "-$run")
    publish bench-da "$n_callgrind" "$out/d/raw$suffix-published.json"
    valgrind --tool=callgrind -q --callgrind-out-file="$out/d/callgrind.raw$suffix.out" "$raw_bin" "${raw_args[@]}" \
      --count "$n_callgrind" >"$out/d/raw$suffix.log" 2>&1 || die "callgrind raw run failed (see $out/d/raw$suffix.log)"
    raw_totals+=("$(callgrind_total "$out/d/callgrind.raw$suffix.out")")
  done

  gateway_config "$out/d/gateway" communegw-bench-db bench-db
  prime_gateway "$out/d/gateway"
  # Start-up and shutdown alone: no messages waiting.
  (cd "$out/d/gateway" && exec valgrind --tool=callgrind -q --callgrind-out-file="$out/d/callgrind.gateway-startup.out" \
    "$gateway_bin" -c communegw.toml run >"$out/d/gateway-startup.log" 2>&1) &
  vg_pid=$!
  started_pids+=("$vg_pid")
  wait_log "$out/d/gateway-startup.log" "mqtt: subscribed" 300 || die "the gateway under callgrind did not subscribe"
  kill -TERM "$vg_pid"
  wait "$vg_pid" || true
  # callgrind_drain <name> <commune>: N messages queued for the gateway in
  # $out/d/<name>, drained under callgrind; r[<name>_commits].
  callgrind_drain() {
    local name=$1 commune=$2
    publish "$commune" "$n_callgrind" "$out/d/$name-published.json"
    (cd "$out/d/$name" && exec valgrind --tool=callgrind -q --callgrind-out-file="$out/d/callgrind.$name.out" \
      "$gateway_bin" -c communegw.toml run >"$out/d/$name.log" 2>&1) &
    vg_pid=$!
    started_pids+=("$vg_pid")
    wait_stored "$out/d/$name/gateway.db" "$n_callgrind" 3600 ||
      die "the gateway under callgrind ($name) did not store $n_callgrind messages"
    kill -TERM "$vg_pid"
    wait "$vg_pid" || true
    r[${name}_commits]=$(sed -n 's/.*stopped: .* in \([0-9]*\) commits.*/\1/p' "$out/d/$name.log")
  }
  callgrind_drain gateway bench-db

  # Under callgrind messages arrive ~50x slower, below the rate at which the
  # writer gathers a backlog (store.gather_above): it commits every one or
  # two, as at 500-5,000 msg/s. The drain in (b) commits ~450 at a time. So
  # the gateway runs a second time gathering at any rate, as in the drain;
  # the two runs also give the cost of a commit.
  gathering_totals=()
  gathering_commits=()
  for ((run = 1; run <= callgrind_runs; run++)); do
    suffix=$( ((run == 1)) || echo "-$run")
    gateway_config "$out/d/gathering$suffix" "communegw-bench-dg$run" "bench-dg$run" "gather_above = 1"
    prime_gateway "$out/d/gathering$suffix"
    callgrind_drain "gathering$suffix" "bench-dg$run"
    gathering_totals+=("$(callgrind_total "$out/d/callgrind.gathering$suffix.out")")
    gathering_commits+=("${r[gathering${suffix}_commits]}")
  done
  r[d_commits]=${r[gateway_commits]}
  r[dg_commits]=$(IFS=/; echo "${gathering_commits[*]}")
  ir_bg=$(median "${gathering_totals[@]}")
  [[ -n "$ir_bg" && -n "${r[d_commits]}" && -n "${r[gathering_commits]}" ]] || die "could not read the gathering run's totals in $out/d"
  # per_message_list <totals...>: "a/b/c", instructions per message of each run.
  per_message_list() {
    local total list=()
    for total in "$@"; do list+=("$(calc %.0f "$total / $n_callgrind")"); done
    (IFS=/; echo "${list[*]}")
  }
  r[dg_runs]=$(per_message_list "${gathering_totals[@]}")
  r[d_a_runs]=$(per_message_list "${raw_totals[@]}")
  ir_a=$(median "${raw_totals[@]}")
  ir_a0=$(callgrind_total "$out/d/callgrind.raw-startup.out")
  ir_a_defaults=$(callgrind_total "$out/d/callgrind.raw-defaults.out")
  r[d_a_defaults]=$(calc %.0f "$ir_a_defaults / $n_callgrind")
  ir_b=$(callgrind_total "$out/d/callgrind.gateway.out")
  ir_b0=$(callgrind_total "$out/d/callgrind.gateway-startup.out")
  [[ -n "$ir_a" && -n "$ir_b" && -n "$ir_a0" && -n "$ir_b0" ]] || die "could not read callgrind totals in $out/d"
  r[d_a]=$(calc %.0f "$ir_a / $n_callgrind")
  r[d_b]=$(calc %.0f "$ir_b / $n_callgrind")
  r[d_diff]=$(calc %.0f "($ir_b - $ir_a) / $n_callgrind")
  r[d_a_marginal]=$(calc %.0f "($ir_a - $ir_a0) / $n_callgrind")
  r[d_b_marginal]=$(calc %.0f "($ir_b - $ir_b0) / $n_callgrind")
  r[d_diff_marginal]=$(calc %.0f "(($ir_b - $ir_b0) - ($ir_a - $ir_a0)) / $n_callgrind")
  r[dg_b]=$(calc %.0f "$ir_bg / $n_callgrind")
  r[dg_b_marginal]=$(calc %.0f "($ir_bg - $ir_b0) / $n_callgrind")
  r[dg_diff]=$(calc %.0f "($ir_bg - $ir_a) / $n_callgrind")
  r[dg_diff_marginal]=$(calc %.0f "(($ir_bg - $ir_b0) - ($ir_a - $ir_a0)) / $n_callgrind")
  # From the first gathering run and the committing one.
  ir_bg1=${gathering_totals[0]}
  if ((r[d_commits] > r[gathering_commits])); then
    r[d_per_commit]=$(calc %.0f "($ir_b - $ir_bg1) / (${r[d_commits]} - ${r[gathering_commits]})")
  fi
  callgrind_annotate "$out/d/callgrind.gateway.out" 2>/dev/null | head -60 >"$out/d/gateway-top.txt" || true
fi

# ---- (f) SIGKILL loss -------------------------------------------------------------
if ! skipped f; then
  say "(f) SIGKILL: $kill_rate msg/s for $kill_seconds s, the gateway killed $kills times"
  dir=$out/f
  gateway_config "$dir" communegw-bench-f bench-f "${BENCH_F_STORE:-}"
  start_gateway_f() {
    (cd "$dir" && exec "$gateway_bin" -c communegw.toml run >>"$dir/run.log" 2>&1) &
    gw_pid=$!
    started_pids+=("$gw_pid")
  }
  start_gateway_f
  wait_log "$dir/run.log" "mqtt: subscribed" 30 || die "the gateway did not subscribe (see $dir/run.log)"
  "$sim_bin" --broker "$broker" --commune bench-f --bench-payload --bench-bytes "$payload" --env-stations "$stations" \
    --rate "$kill_rate" --duration "$kill_seconds" --qos 1 --summary-json "$dir/published.json" -q &
  sim_pid=$!
  started_pids+=("$sim_pid")
  # Kills spread over the run, each followed by a restart about a second later.
  gap=$(calc %.2f "($kill_seconds - $kills) / ($kills + 0.5)")
  for ((k = 1; k <= kills; k++)); do
    sleep "$gap"
    kill -KILL "$gw_pid"
    wait "$gw_pid" 2>/dev/null || true
    echo "---- SIGKILL $k at $(date +%T.%N) ----" >>"$dir/run.log"
    sleep 1
    start_gateway_f
  done
  wait "$sim_pid" || die "communegw-sim failed during the SIGKILL run"
  published=$(json_number "$dir/published.json" acknowledged)
  # Let the gateway drain what the broker kept for it; stop when complete or stalled.
  last=-1
  stable=0
  for _ in $(seq 1200); do
    count=$(sqlite3 -readonly "$dir/gateway.db" "SELECT count(*) FROM messages" 2>/dev/null || echo 0)
    ((count >= published)) && break
    if ((count == last)); then stable=$((stable + 1)); else stable=0; fi
    ((stable >= 100)) && break
    last=$count
    sleep 0.1
  done
  kill -TERM "$gw_pid"
  wait "$gw_pid" || true
  r[f_published]=$published
  stored_f=$(sqlite3 -readonly "$dir/gateway.db" "SELECT count(*) FROM messages")
  r[f_stored]=$stored_f
  r[f_duplicate_rows]=$(sqlite3 -readonly "$dir/gateway.db" \
    "SELECT count(*) FROM (SELECT device, seq FROM messages GROUP BY device, seq HAVING count(*) > 1)")
  r[f_redelivered_dropped]=$(sqlite3 -readonly "$dir/gateway.db" \
    "SELECT coalesce((SELECT value FROM counters WHERE name = 'duplicate_messages'), 0)")
  r[f_missing]=$((published - stored_f))
  r[f_loss_per_kill]=$(calc %.2f "${r[f_missing]} / $kills")
fi

# ---- report -------------------------------------------------------------------------
verdict() { # verdict <value> <target>: lower is better
  awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t) ? "ok" : "MISSED" }'
}
{
  echo "communegw ingest benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load at end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "$payload-byte env telemetry (7 metrics), QoS 1, queued at mosquitto $(mosquitto -h 2>/dev/null | sed -n 's/^mosquitto version \([0-9.]*\).*/\1/p') while the subscriber was offline, then drained"
  echo
  printf '%-44s %12s %10s %9s\n' "subscriber" "msg/s" "seconds" "messages"
  for tag in "${round_tags[@]}"; do
    a_label="(a) raw Paho C++ subscriber (counts only)" b_label="(b) communegw run (decode + durable commit)"
    [[ -n "$tag" ]] && a_label="(a) round ${tag#-}" b_label="(b) round ${tag#-}"
    ap_label="(a') same, the gateway's Paho settings"
    [[ -n "$tag" ]] && ap_label="(a') round ${tag#-}"
    skipped a || printf '%-44s %12s %10s %9s\n' "$a_label" "${r[a_rate$tag]}" "${r[a_s$tag]}" "$n"
    skipped a || printf '%-44s %12s %10s %9s\n' "$ap_label" "${r[ap_rate$tag]}" "${r[ap_s$tag]}" "$n"
    skipped b || printf '%-44s %12s %10s %9s\n' "$b_label" "${r[b_rate$tag]}" "${r[b_s$tag]}" "$n"
  done
  if ! skipped c; then
    note=""
    ((n_python < n)) && note=" (smaller N: the rate is what is compared)"
    printf '%-44s %12s %10s %9s%s\n' "(c) naive Python (paho + sqlite3)" "${r[c_rate]}" "${r[c_s]}" "$n_python" "$note"
  fi
  echo
  if ! skipped a && ! skipped b; then
    for side in a ap; do
      per_round=""
      for tag in "${round_tags[@]}"; do per_round+=" ${r[b$side$tag]}"; done
      label="b/a (gateway vs raw floor), median"
      [[ "$side" == ap ]] && label="b/a' (like for like), median"
      printf '%-44s %12s   per round:%s\n' "$label" "${r[b${side}_median]}" "$per_round"
    done
  fi
  if ! skipped a && ! skipped b; then
    printf '%-44s %12s %10s %9s %10s\n' "CPU per message, µs (medians)" "subscriber" "broker" "total" "cores busy"
    printf '%-44s %12s %10s %9s %10s\n' "    (a) raw" "${r[a_us_sub]}" "${r[a_us_broker]}" "${r[a_us_total]}" "${r[a_cores_busy]}"
    printf '%-44s %12s %10s %9s %10s\n' "    (a') raw, the gateway's Paho settings" "${r[ap_us_sub]}" "${r[ap_us_broker]}" "${r[ap_us_total]}" "${r[ap_cores_busy]}"
    printf '%-44s %12s %10s %9s %10s\n' "    (b) gateway" "${r[b_us_sub]}" "${r[b_us_broker]}" "${r[b_us_total]}" "${r[b_cores_busy]}"
    ceiling=$(calc %.0f "$(nproc) * 1e6 / ${r[b_us_total]}")
    printf '%-44s %12s   (all %s cores on (b) and its broker; b/a at most %s)\n' "    (b) ceiling, msg/s" "$ceiling" \
      "$(nproc)" "$(calc %.3f "$ceiling / ${r[a_rate_median]}")"
  fi
  if ! skipped c && ! skipped b; then
    printf '%-44s %12s\n' "b/c (median gateway rate vs naive Python)" "$(calc %.1f "${r[b_rate_median]} / ${r[c_rate]}")"
  fi
  if ! skipped b; then
    printf '%-44s %12s\n' "gateway commits for $n messages (round 1)" "${r[b_commits]}"
    printf '%-44s %12s\n' "MQTT thread waited for commits (round 1)" "${r[b_held]:-?}"
  fi
  if ! skipped b; then
    printf '%-44s %12s\n' "gateway peak RSS, MiB (time -v / VmHWM)" "$(calc %.1f "${r[b_maxrss_kib]} / 1024") / $(calc %.1f "${r[b_hwm_kib]} / 1024")"
  fi
  if ! skipped d; then
    echo
    printf '%-44s %12s %12s\n' "(d) callgrind, instructions per message" "total/N" "minus start"
    printf '%-44s %12s %12s   one run\n' "    (a) raw subscriber, Paho's defaults" "${r[d_a_defaults]}" ""
    printf '%-44s %12s %12s   median of %s\n' "    (a') raw, the gateway's Paho settings" "${r[d_a]}" "${r[d_a_marginal]}" "${r[d_a_runs]}"
    printf '%-44s %12s %12s   median of %s; %s commits\n' "    (b) gateway, gathering as in the drain" "${r[dg_b]}" \
      "${r[dg_b_marginal]}" "${r[dg_runs]}" "${r[dg_commits]}"
    printf '%-44s %12s %12s   target <= %s: %s\n' "    b - a'" "${r[dg_diff]}" "${r[dg_diff_marginal]}" \
      "$target_callgrind_extra" "$(verdict "${r[dg_diff]}" "$target_callgrind_extra")"
    printf '%-44s %12s %12s   %s commits\n' "    (b) gateway, committing continuously" "${r[d_b]}" "${r[d_b_marginal]}" \
      "${r[d_commits]}"
    printf '%-44s %12s %12s   (as at 500-5,000 msg/s; no target)\n' "    b - a'" "${r[d_diff]}" "${r[d_diff_marginal]}"
    printf '%-44s %12s\n' "    instructions per commit" "${r[d_per_commit]:-?}"
  fi
  if ! skipped b; then
    echo
    per_round=""
    for tag in "${round_tags[@]}"; do per_round+=" ${r[e_ratio$tag]}"; done
    printf '%-44s %12s   target <= %s: %s   (per round:%s)\n' "(e) disk bytes written per payload byte" "${r[e_ratio]}" \
      "$target_disk_ratio" "$(verdict "${r[e_ratio]}" "$target_disk_ratio")" "$per_round"
    printf '%-44s %12s\n' "    write_bytes at end of ingest, MB" "$(calc %.1f "${r[b_write_bytes]} / 1e6")"
    printf '%-44s %12s\n' "    same, including shutdown (time -v), MB" "$(calc %.1f "${r[b_total_write_bytes]} / 1e6")"
    printf '%-44s %12s\n' "    write() bytes (wchar) per payload byte" "${r[e_wchar_ratio]}"
    printf '%-44s %12s\n' "    payload MB / store file MB" "$(calc %.1f "${r[payload_bytes]} / 1e6") / $(calc %.1f "${r[b_db_bytes]} / 1e6")"
  fi
  if ! skipped f; then
    echo
    printf '%-44s %12s   target <= %s: %s\n' "(f) messages lost per SIGKILL" "${r[f_loss_per_kill]}" "$target_loss_per_kill" \
      "$(verdict "${r[f_loss_per_kill]}" "$target_loss_per_kill")"
    printf '%-44s %12s\n' "    published / stored / missing" "${r[f_published]} / ${r[f_stored]} / ${r[f_missing]}"
    printf '%-44s %12s   (should be 0)\n' "    duplicate (device, seq) rows" "${r[f_duplicate_rows]}"
    printf '%-44s %12s\n' "    redeliveries dropped by dedupe" "${r[f_redelivered_dropped]}"
  fi
} | tee "$out/results.txt"
