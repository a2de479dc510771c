#!/usr/bin/env bash
# The uplink benchmark in one command (bench/README.md, "Uplink benchmark"):
#   bench/uplink.sh
# Builds build-bench/ (Release) if needed, starts its own commune mosquitto and
# its own central mosquitto (TLS + passwords, persistence) on free loopback
# ports and the reference receiver `communegw central`, then measures:
#   1. bytes sent upstream for a simulated commune hour against the raw payload bytes,
#   2. the drain of a 24 h backlog to the centre while live traffic and live
#      alarms continue: records/s and the alarms' end-to-end latency,
#   3. the gateway's RSS during that drain.
# Prints a table with the targets; logs, configs, stores and the centre's
# database stay in build-bench/uplink-results/<time>/.
# Exit status: 0 when the benchmark ran (a missed target is printed as MISSED),
# 1 when it could not run.
#
# Knobs (environment): BENCH_HOUR_SCALE (240: simulated seconds per real second
# for the hour), BENCH_DAY_SCALE (240, for the day), BENCH_STREETLIGHTS (1000),
# BENCH_ENV_STATIONS (50), BENCH_CAMERAS (20), BENCH_ALARM_RATE (20 alarms/s
# during the drain), BENCH_CENTRAL_TLS (1; 0: plain tcp to the central broker),
# BENCH_UPLINK_EXTRA (lines added to every gateway's [uplink], e.g. 'max_rate = "256KiB"'),
# BENCH_JOBS (1: build jobs), BENCH_BUILD_DIR, BENCH_OUT, BENCH_SKIP ("hour day").
set -Eeuo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BENCH_BUILD_DIR:-$repo/build-bench}
jobs=${BENCH_JOBS:-1}
hour_scale=${BENCH_HOUR_SCALE:-240}
day_scale=${BENCH_DAY_SCALE:-240}
streetlights=${BENCH_STREETLIGHTS:-1000}
env_stations=${BENCH_ENV_STATIONS:-50}
cameras=${BENCH_CAMERAS:-20}
alarm_rate=${BENCH_ALARM_RATE:-20}
central_tls=${BENCH_CENTRAL_TLS:-1}
uplink_extra=${BENCH_UPLINK_EXTRA:-}
skip=" ${BENCH_SKIP:-} "
out=${BENCH_OUT:-$build/uplink-results/$(date +%Y%m%dT%H%M%S)}

# Targets (issue 5, "Benchmark").
target_ratio=50          # raw payload bytes per upstream byte, at least
target_drain_rate=5000   # records/s at the centre, at least
target_alarm_p99_ms=2000 # live alarm latency p99, below
target_rss_kib=$((32 * 1000))  # 32 MB

# say, die, calc, json_number, free_port, wait_log; processes in started_pids stop on exit.
log_prefix=uplink-bench
source "$repo/scripts/lib.sh"
skipped() { [[ "$skip" == *" $1 "* ]]; }
now_ms() { date +%s%3N; }

# ---- dependencies and build ------------------------------------------------------
ensure_bench_tools cmake ninja mosquitto mosquitto_passwd sqlite3 openssl /usr/bin/python3
mkdir -p "$build"
if [[ ! -f "$build/build.ninja" ]]; then
  say "configuring $build (Release)"
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCOMMUNEGW_BUILD_TESTS=OFF \
    -DCOMMUNEGW_BUILD_BENCH=ON >"$build/bench-configure.log" 2>&1 ||
    { tail -30 "$build/bench-configure.log" >&2; die "cmake failed (see $build/bench-configure.log)"; }
fi
say "building (ninja -j$jobs; set BENCH_JOBS for more)"
ninja -C "$build" -j"$jobs" communegw communegw-sim >"$build/uplink-build.log" 2>&1 ||
  { tail -30 "$build/uplink-build.log" >&2; die "build failed (see $build/uplink-build.log)"; }
gw_bin=$build/gateway/communegw
sim_bin=$build/tools/sim/communegw-sim
alarm_pub=$repo/bench/alarm_publisher.py

mkdir -p "$out"
chmod 755 "$out"
say "results and logs: $out"

wait_port() {
  local _
  for _ in $(seq 100); do
    (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
q() { sqlite3 -readonly "$1" "$2" 2>/dev/null; }
json_text() { sed -n "s/.*\"$2\": *\"\([^\"]*\)\".*/\1/p" "$1" | head -1; }

# ---- the commune broker ------------------------------------------------------------
port=$(free_port)
broker=tcp://127.0.0.1:$port
mkdir -m 777 -p "$out/local"
sed "s/@PORT@/$port/" "$repo/bench/mosquitto.conf" >"$out/local/mosquitto.conf"
mosquitto -c "$out/local/mosquitto.conf" >"$out/local/mosquitto.log" 2>&1 &
started_pids+=($!)
wait_port "$port" || die "the commune mosquitto did not start (see $out/local/mosquitto.log)"

# ---- the central side: broker (TLS, passwords, persistence) and receiver ---------------
central=$out/central
mkdir -m 777 -p "$central"
central_port=$(free_port)
gateways=(gw-hour-once gw-hour-defaults gw-day)
mosquitto_passwd -b -c "$central/passwd" centre "$(openssl rand -hex 16)" >/dev/null 2>&1
centre_password=$(openssl rand -hex 16)
mosquitto_passwd -b "$central/passwd" centre "$centre_password"
(umask 077; echo "$centre_password" >"$central/centre.pw")
for id in "${gateways[@]}"; do
  password=$(openssl rand -hex 16)
  mosquitto_passwd -b "$central/passwd" "$id" "$password"
  (umask 077; echo "$password" >"$central/$id.pw")
done
chmod 644 "$central/passwd"
if [[ "$central_tls" == 1 ]]; then
  mkdir -p "$central/pki"
  (
    cd "$central/pki"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-central-ca -keyout ca.key -out ca.crt
    openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr
    echo "subjectAltName=IP:127.0.0.1,DNS:localhost" >san.cnf
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile san.cnf -out server.crt
  ) >"$central/pki.log" 2>&1 || die "openssl failed (see $central/pki.log)"
  chmod 755 "$central/pki"
  chmod 644 "$central/pki/"*
  central_uri=ssl://127.0.0.1:$central_port
  tls_conf="cafile $central/pki/ca.crt
certfile $central/pki/server.crt
keyfile $central/pki/server.key"
  ca_line="ca_file = \"$central/pki/ca.crt\""
  ca_args=(--ca-file "$central/pki/ca.crt")
else
  central_uri=tcp://127.0.0.1:$central_port
  tls_conf=""
  ca_line=""
  ca_args=()
fi
cat >"$central/mosquitto.conf" <<EOF
# The benchmark's central broker: like a programme server's, with persistence so
# the receiver's session (and what is queued for it) survives the outage.
listener $central_port 127.0.0.1
allow_anonymous false
password_file $central/passwd
$tls_conf
persistence true
persistence_location $central/
autosave_interval 0
max_queued_messages 0
max_queued_bytes 2147483648
max_inflight_messages 100
log_dest stdout
log_type error
log_type warning
log_type notice
connection_messages true
EOF
central_db=$central/central.db
central_broker_pid=""
receiver_pid=""
start_central() {
  mosquitto -c "$central/mosquitto.conf" >>"$central/mosquitto.log" 2>&1 &
  central_broker_pid=$!
  started_pids+=("$central_broker_pid")
  wait_port "$central_port" || die "the central mosquitto did not start (see $central/mosquitto.log)"
  local mark
  touch "$central/receiver.log"
  mark=$(wc -l <"$central/receiver.log")
  "$gw_bin" central --uri "$central_uri" --db "$central_db" "${ca_args[@]}" --client-id communegw-bench-centre \
    --username centre --password-file "$central/centre.pw" >>"$central/receiver.log" 2>&1 &
  receiver_pid=$!
  started_pids+=("$receiver_pid")
  local _
  for _ in $(seq 100); do
    tail -n +"$((mark + 1))" "$central/receiver.log" | grep -q "subscribed" && return 0
    sleep 0.1
  done
  die "the central receiver did not subscribe (see $central/receiver.log)"
}
stop_pid() {  # pid: SIGTERM, wait
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
stop_central() {
  stop_pid "$receiver_pid"
  stop_pid "$central_broker_pid"
}
start_central

# ---- the gateway --------------------------------------------------------------------
# gateway_config <dir> <id> <commune> <file> [aggregate lines]: defaults except the
# uplink (enabled, to the benchmark's central broker), the store path, a topic
# filter of its own, a 10 s stats line, and aggregate.interval scaled like the
# simulated time: the default 5 min is 1.25 s of wall time at x240 (the
# smallest allowed is 1 s). Unscaled, the first fold of a compressed hour
# would come minutes after its last sample.
fold_interval_ms() {  # time_scale
  local ms
  ms=$(calc %.0f "300000 / $1")
  echo $((ms < 1000 ? 1000 : ms))
}
agg_interval_ms=$(fold_interval_ms "$hour_scale")
gateway_config() {
  mkdir -p "$1"
  cat >"$1/$4" <<EOF
[gateway]
id = "$2"
province = "bench"
commune = "$3"
[mqtt]
uri = "$broker"
client_id = "communegw-bench-$2"
[store]
path = "gateway.db"
[aggregate]
interval = "${agg_interval_ms}ms"
$5
[clock]
# This host may not report NTP sync, and untrusted samples wait up to
# aggregate.clock_wait (1h) for it; a board in the field keeps "auto".
trust = "always"
[uplink]
enabled = true
uri = "$central_uri"
$ca_line
username = "$2"
password_file = "$central/$2.pw"
$uplink_extra
[log]
stats_interval = "10s"
[driver.native]
topics = ["commune/$3/+/+/+"]
EOF
}
gw_pid=""
start_gateway() {  # dir config log
  (cd "$1" && exec "$gw_bin" -c "$2" run >>"$1/$3" 2>&1) &
  gw_pid=$!
  started_pids+=("$gw_pid")
  wait_log "$1/$3" "mqtt: subscribed" 30 || die "the gateway did not subscribe (see $1/$3)"
}
stop_gateway() {
  kill -TERM "$gw_pid"
  wait "$gw_pid" || say "warning: the gateway exited non-zero"
}
# Everything the simulator published is stored and folded into aggregates.
wait_folded() {  # db expected_messages timeout_s
  local deadline=$((SECONDS + $3)) stored folded newest
  while ((SECONDS < deadline)); do
    # max(id), not count(*): over store.max_size (512 MiB) the store sheds the
    # oldest raw messages that are already aggregated (a day of this commune is more).
    newest=$(q "$1" "SELECT coalesce(max(id), 0) FROM messages")
    stored=$newest
    folded=$(q "$1" "SELECT coalesce((SELECT value FROM cursors WHERE name = 'aggregate.messages'), 0)")
    if ((${stored:-0} >= $2 && ${folded:-0} >= ${newest:-1})); then return 0; fi
    sleep 0.5
  done
  say "stored ${stored:-?} of $2, folded up to ${folded:-?} of ${newest:-?}"
  return 1
}
# Everything closed is queued: no changed window past close_delay (default 2 min),
# every event queued.
unqueued_sql() {
  echo "SELECT (SELECT count(*) FROM aggregate_windows WHERE changed = 1 AND start_ms + period_s * 1000 + 120000 <= $(now_ms))
          + (SELECT coalesce(max(id), 0) FROM events)
          - coalesce((SELECT value FROM cursors WHERE name = 'uplink.events'), 0)"
}
wait_queued() {  # db timeout_s
  local deadline=$((SECONDS + $2)) n
  while ((SECONDS < deadline)); do
    n=$(q "$1" "$(unqueued_sql)")
    [[ "${n:-1}" == 0 ]] && return 0
    sleep 0.5
  done
  return 1
}
wait_outbox_empty() {  # db timeout_s
  local deadline=$((SECONDS + $2)) n
  while ((SECONDS < deadline)); do
    n=$(q "$1" "SELECT count(*) FROM outbox")
    if [[ "${n:-1}" == 0 ]] && [[ "$(q "$1" "$(unqueued_sql)")" == 0 ]]; then
      sleep 1.5  # one more tick of the uplink: nothing new appears
      n=$(q "$1" "SELECT count(*) FROM outbox")
      [[ "${n:-1}" == 0 ]] && return 0
    fi
    sleep 0.5
  done
  return 1
}
sim() {  # summary.json log [options]
  local summary=$1 log=$2
  shift 2
  "$sim_bin" --broker "$broker" --streetlights "$streetlights" --env-stations "$env_stations" --cameras "$cameras" \
    --qos 1 --summary-json "$summary" "$@" >"$log" 2>&1
}
# rss_sampler <pid> <file>: t_ms VmRSS VmHWM (kB) every 0.2 s while the process lives.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }  # utime + stime, 1/100 s
rss_sampler() {
  while [[ -r "/proc/$1/status" ]]; do
    awk -v t="$(now_ms)" '/^VmRSS:/ {r = $2} /^VmHWM:/ {h = $2} END {if (r) print t, r, h}' "/proc/$1/status" >>"$2" 2>/dev/null || true
    sleep 0.2
  done
}

declare -A r  # results
hour_start=$(( ($(date +%s) / 3600) * 3600 - 3 * 3600 ))  # a whole local hour (UTC+7 is whole hours), 3 h ago
hour_seconds=$(calc %.3f "3600 / $hour_scale")

# Per-stream bytes at the centre for one gateway: stream, records, JSON bytes, batches, wire bytes.
stream_rows() {
  q "$central_db" "SELECT s.stream, (SELECT count(*) FROM records r WHERE r.gateway = s.gateway AND r.stream = s.stream),
                          (SELECT coalesce(sum(length(body)), 0) FROM records r WHERE r.gateway = s.gateway AND r.stream = s.stream),
                          s.batches, s.duplicates, s.wire_bytes
                   FROM stream_stats s WHERE s.gateway = '$1'
                   ORDER BY CASE s.stream WHEN 'alarms' THEN 0 WHEN 'health' THEN 1 WHEN 'aggregates' THEN 2 ELSE 3 END"
}
wire_total() { q "$central_db" "SELECT coalesce(sum(wire_bytes), 0) FROM stream_stats WHERE gateway = '$1'"; }

# ---- 1. the commune hour --------------------------------------------------------------
# The same hour (same seed) twice:
#  once:     as in real time, each 1 h window is first sent once, after all its
#            samples are in: the gateway ingests the compressed hour with
#            aggregate.close_delay = 1d (nothing closes early), then restarts with
#            every default and sends. Counts the bytes a real hour costs.
#  defaults: one run, every default. With time compressed, the window is
#            already closed while its samples still arrive, so every aggregation
#            pass (each second) queues a new revision and each is sent.
run_hour() {  # id commune mode
  local id=$1 commune=$2 mode=$3 dir=$out/$1
  gateway_config "$dir" "$id" "$commune" communegw.toml ""
  if [[ "$mode" == once ]]; then
    gateway_config "$dir" "$id" "$commune" hold.toml 'close_delay = "1d"'
    start_gateway "$dir" hold.toml gateway-hold.log
  else
    start_gateway "$dir" communegw.toml gateway.log
  fi
  say "  $id: publishing $streetlights streetlights, $env_stations stations, $cameras cameras from $(date -u -d "@$hour_start" +%FT%TZ), 1 h at x$hour_scale (${hour_seconds} s)"
  sim "$dir/sim.json" "$dir/sim.log" --commune "$commune" --time-scale "$hour_scale" --start "$hour_start" \
    --duration "$hour_seconds" --seed 2026 || die "communegw-sim failed (see $dir/sim.log)"
  local expected
  expected=$(sed -n 's/.*"stored_messages": *\([0-9]*\).*/\1/p' "$dir/sim.json")
  wait_folded "$dir/gateway.db" "$expected" 300 || die "$id did not store and fold the hour (see $dir)"
  if [[ "$mode" == once ]]; then
    stop_gateway
    start_gateway "$dir" communegw.toml gateway.log
  fi
  wait_outbox_empty "$dir/gateway.db" 300 || die "$id did not empty its outbox (see $dir/gateway.log)"
  stop_gateway
  r[${id}_raw]=$(json_number "$dir/sim.json" payload_bytes)
  r[${id}_topic]=$(json_number "$dir/sim.json" topic_bytes)
  r[${id}_msgs]=$(json_number "$dir/sim.json" messages)
  r[${id}_sim_end]=$(json_text "$dir/sim.json" simulated_end)
  r[${id}_wire]=$(wire_total "$id")
  r[${id}_maxrev]=$(q "$central_db" "SELECT coalesce(max(revision), 0) FROM latest_aggregates WHERE gateway = '$id'")
  r[${id}_windows]=$(q "$central_db" "SELECT count(*) FROM latest_aggregates WHERE gateway = '$id'")
  # Uplink topics, as a bridge's topics would count: one per batch.
  r[${id}_uptopic]=$(q "$central_db" "SELECT coalesce(sum(batches * length('communegw/v1/bench/$commune/$id/' || stream)), 0)
                                       FROM stream_stats WHERE gateway = '$id'")
}
if ! skipped hour; then
  say "1. byte ratio: a commune hour"
  run_hour gw-hour-once hour-once once
  run_hour gw-hour-defaults hour-defaults defaults
fi

# ---- 2. the drain of a day's backlog, with live traffic -----------------------------------
if ! skipped day; then
  id=gw-day
  commune=day
  dir=$out/$id
  day_end=$(( ($(date +%s) / 3600) * 3600 ))  # the last whole hour: every window of the day is closed
  day_start=$((day_end - 86400))
  day_seconds=$(calc %.3f "86400 / $day_scale")
  say "2. drain: stopping the central broker; a day of backlog queues in the gateway's outbox"
  stop_central
  agg_interval_ms=$(fold_interval_ms "$day_scale")
  gateway_config "$dir" "$id" "$commune" communegw.toml ""
  gateway_config "$dir" "$id" "$commune" hold.toml 'close_delay = "1d"'
  start_gateway "$dir" hold.toml gateway-hold.log
  rss_sampler "$gw_pid" "$dir/rss-hold.txt" &
  say "  publishing the day from $(date -u -d "@$day_start" +%FT%TZ) at x$day_scale (${day_seconds} s)"
  sim "$dir/sim.json" "$dir/sim.log" --commune "$commune" --time-scale "$day_scale" --start "$day_start" \
    --duration "$day_seconds" --seed 7 || die "communegw-sim failed (see $dir/sim.log)"
  expected=$(sed -n 's/.*"stored_messages": *\([0-9]*\).*/\1/p' "$dir/sim.json")
  wait_folded "$dir/gateway.db" "$expected" 900 || die "$id did not store and fold the day (see $dir)"
  r[day_hold_hwm]=$(awk '/^VmHWM:/ {print $2}' "/proc/$gw_pid/status")
  stop_gateway
  start_gateway "$dir" communegw.toml gateway.log
  rss_sampler "$gw_pid" "$dir/rss.txt" &
  wait_queued "$dir/gateway.db" 300 || die "$id did not queue the day's windows (see $dir/gateway.log)"
  sleep 1.5
  backlog_rows=$(q "$dir/gateway.db" "SELECT stream, count(*), sum(length(body)) FROM outbox GROUP BY stream ORDER BY stream")
  r[day_backlog]=$(q "$dir/gateway.db" "SELECT count(*) FROM outbox")
  r[day_backlog_bytes]=$(q "$dir/gateway.db" "SELECT sum(length(body)) FROM outbox")
  r[day_msgs]=$(json_number "$dir/sim.json" messages)
  r[day_sim_end]=$(json_text "$dir/sim.json" simulated_end)
  say "  backlog: ${r[day_backlog]} records, ${r[day_backlog_bytes]} bytes of JSON; starting live traffic and alarms"

  sim "$dir/live.json" "$dir/live.log" --commune "$commune" --seed 99 --duration 3600 &
  live_pid=$!
  started_pids+=("$live_pid")
  /usr/bin/python3 "$alarm_pub" --broker-port "$port" --commune "$commune" --rate "$alarm_rate" --duration 3600 \
    >"$dir/alarms.log" 2>&1 &
  alarm_pid=$!
  started_pids+=("$alarm_pid")
  sleep 3
  # The backlog: every seq below each stream's next one (a fresh store: nothing was sent before).
  backlog_sql=$(q "$dir/gateway.db" "SELECT group_concat('(stream = ' || quote(substr(name, 17)) || ' AND seq < ' || value || ')', ' OR ')
                                      FROM cursors WHERE name LIKE 'uplink.next_seq.%'")
  backlog_n=$(q "$dir/gateway.db" "SELECT sum(value - 1) FROM cursors WHERE name LIKE 'uplink.next_seq.%'")
  say "  link back: starting the central broker and receiver"
  gw_cpu_up=$(cpu_ticks "$gw_pid")
  t_up=$(now_ms)
  start_central
  : >"$dir/drain.txt"
  t_empty=""
  deadline=$((SECONDS + 900))
  # Drained when the centre has every backlog record (the outbox empties a little
  # earlier: at the central broker's PUBACK, before the receiver has stored it).
  while ((SECONDS < deadline)); do
    left=$(q "$dir/gateway.db" "SELECT count(*) FROM outbox WHERE created_ms < $t_up")
    arrived=$(q "$central_db" "SELECT count(*) FROM records WHERE gateway = '$id' AND ($backlog_sql)")
    echo "$(now_ms) ${left:-?} ${arrived:-?}" >>"$dir/drain.txt"
    if [[ "${arrived:-0}" == "$backlog_n" ]]; then
      t_empty=$(now_ms)
      # CPU used since the link came back (the receiver and broker started then).
      r[cpu_gateway]=$(( $(cpu_ticks "$gw_pid") - gw_cpu_up ))
      r[cpu_receiver]=$(cpu_ticks "$receiver_pid")
      r[cpu_central_broker]=$(cpu_ticks "$central_broker_pid")
      # The receiver's time waiting for a CPU (run queue), all its threads, in ms: how starved it was.
      r[receiver_runq_ms]=$(cat "/proc/$receiver_pid"/task/*/schedstat 2>/dev/null | awk '{w += $2} END {printf "%d", w / 1e6}')
      break
    fi
    sleep 0.1
  done
  [[ -n "$t_empty" ]] || die "the backlog did not arrive within 15 min (see $dir/gateway.log)"
  say "  backlog drained; 10 s more of live traffic"
  sleep 10
  stop_pid "$alarm_pid"
  stop_pid "$live_pid"
  wait_outbox_empty "$dir/gateway.db" 120 || say "warning: live records still in the outbox"
  sleep 1
  cp "/proc/$gw_pid/status" "$dir/proc-status.txt"
  stop_gateway

  g="gateway = '$id'"
  # The drain: from the first record the centre received after the link came back
  # to the moment the last backlog record left the outbox.
  t_first=$(q "$central_db" "SELECT min(received_ms) FROM records WHERE $g AND received_ms >= $t_up")
  t_last=$(q "$central_db" "SELECT max(received_ms) FROM records WHERE $g AND ($backlog_sql)")
  r[day_connect_s]=$(calc %.1f "($t_first - $t_up) / 1000")
  r[day_drain_s]=$(calc %.2f "($t_last - $t_first) / 1000")
  r[day_drained]=$(q "$central_db" "SELECT count(*) FROM records WHERE $g AND received_ms BETWEEN $t_first AND $t_last")
  r[day_rate]=$(calc %.0f "${r[day_drained]} / (($t_last - $t_first) / 1000)")
  # The gateway's side: from the first backlog record acknowledged by the central
  # broker (the outbox shrinks) to the last (drain.txt: t_ms outbox_left centre_arrived).
  # From the last poll with the whole backlog still there to the first with none: an upper bound.
  read -r t_out_first t_out_last < <(awk -v n="$backlog_n" '$2 == n {a = $1} $2 == 0 && !b {b = $1} END {print a, b}' "$dir/drain.txt")
  r[day_out_s]=$(calc %.2f "($t_out_last - $t_out_first) / 1000")
  r[day_out_rate]=$(calc %.0f "$backlog_n / (($t_out_last - $t_out_first) / 1000)")
  drain_streams=$(q "$central_db" "SELECT stream, count(*), min(received_ms) - $t_first, max(received_ms) - $t_first FROM records
                                   WHERE $g AND received_ms BETWEEN $t_first AND $t_last GROUP BY stream
                                   ORDER BY CASE stream WHEN 'alarms' THEN 0 WHEN 'health' THEN 1 WHEN 'aggregates' THEN 2 ELSE 3 END")
  r[day_gaps]=$(q "$central_db" "SELECT coalesce(sum(mx - n), 0) FROM (SELECT max(seq) AS mx, count(*) AS n FROM records WHERE $g GROUP BY stream)")
  r[day_maxrev]=$(q "$central_db" "SELECT coalesce(max(revision), 0) FROM latest_aggregates WHERE $g")
  # Latency of the live alarms: centre received_ms minus the publish time in the zone.
  latencies() {  # from_ms to_ms -> sorted latencies
    q "$central_db" "SELECT received_ms - CAST(substr(json_extract(body, '\$.attributes.zone'), 3) AS INTEGER) AS l FROM records
                     WHERE $g AND stream = 'alarms' AND json_extract(body, '\$.attributes.zone') LIKE 't=%'
                       AND CAST(substr(json_extract(body, '\$.attributes.zone'), 3) AS INTEGER) BETWEEN $1 AND $2 ORDER BY l"
  }
  pct() { awk -v p="$1" '{v[NR] = $1} END {if (NR == 0) {print "n/a"; exit} i = int(p * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; print v[i]}'; }
  latencies "$t_first" "$t_last" >"$dir/alarm-latency-drain.txt"
  latencies "$((t_last + 1))" 99999999999999 >"$dir/alarm-latency-after.txt"
  latencies "$t_up" "$((t_first - 1))" >"$dir/alarm-latency-reconnect.txt"
  for phase in drain after reconnect; do
    f=$dir/alarm-latency-$phase.txt
    r[alarm_${phase}_n]=$(wc -l <"$f")
    r[alarm_${phase}_p50]=$(pct 0.50 <"$f")
    r[alarm_${phase}_p99]=$(pct 0.99 <"$f")
    r[alarm_${phase}_max]=$(pct 1.0 <"$f")
  done
  # The gateway's own part: its receive time (the record's recv_ms) minus the publish time.
  q "$central_db" "SELECT json_extract(body, '\$.recv_ms') - CAST(substr(json_extract(body, '\$.attributes.zone'), 3) AS INTEGER) AS l
                   FROM records WHERE $g AND stream = 'alarms' AND json_extract(body, '\$.attributes.zone') LIKE 't=%'
                     AND CAST(substr(json_extract(body, '\$.attributes.zone'), 3) AS INTEGER) BETWEEN $t_first AND $t_last
                   ORDER BY l" >"$dir/alarm-ingest-latency-drain.txt"
  r[alarm_ingest_p99]=$(pct 0.99 <"$dir/alarm-ingest-latency-drain.txt")
  r[alarms_published]=$(sed -n 's/.*published \([0-9]*\).*/\1/p' "$dir/alarms.log")
  r[alarms_received]=$(q "$central_db" "SELECT count(*) FROM records WHERE $g AND stream = 'alarms' AND body LIKE '%\"zone\":\"t=%'")
  # RSS from the link's return to the last backlog record, and over the whole sending run.
  read -r r[rss_min] r[rss_max] r[rss_first] r[rss_last] r[hwm_drain] < <(awk -v a="$t_up" -v b="$t_last" \
    '$1 >= a && $1 <= b {if (!n++) {mn = mx = first = $2} if ($2 < mn) mn = $2; if ($2 > mx) mx = $2; last = $2; h = $3}
     END {print mn + 0, mx + 0, first + 0, last + 0, h + 0}' "$dir/rss.txt")
  r[rss_samples]=$(awk -v a="$t_up" -v b="$t_last" '$1 >= a && $1 <= b' "$dir/rss.txt" | wc -l)
  r[hwm_run]=$(awk '/^VmHWM:/ {print $2}' "$dir/proc-status.txt")
fi

# ---- results ----------------------------------------------------------------------------------
{
  echo
  echo "Uplink benchmark, $(date -u +%FT%TZ), $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?'), central broker $central_uri"
  echo "commune: $streetlights streetlights (60 s), $env_stations environment stations (30 s), $cameras cameras; gateway defaults + [uplink]${uplink_extra:+ + $uplink_extra}"
  if ! skipped hour; then
    echo
    echo "1. A commune hour ($(date -u -d "@$hour_start" +%FT%TZ) + 1 h, ${r[gw-hour-once_msgs]} messages, x$hour_scale; simulated end ${r[gw-hour-once_sim_end]}):"
    echo "   raw payload bytes published: ${r[gw-hour-once_raw]} (plus ${r[gw-hour-once_topic]} topic bytes)"
    for id in gw-hour-once gw-hour-defaults; do
      echo "   $id: windows at the centre ${r[${id}_windows]}, highest revision ${r[${id}_maxrev]}"
      printf '   %-11s %9s %12s %8s %5s %11s %10s\n' stream records json_bytes batches dups wire_bytes raw/wire
      while IFS='|' read -r stream recs json batches dups wire; do
        printf '   %-11s %9s %12s %8s %5s %11s %10s\n' "$stream" "$recs" "$json" "$batches" "$dups" "$wire" \
          "$(calc %.0f "${r[${id}_raw]} / $wire")"
      done < <(stream_rows "$id")
      printf '   %-11s %9s %12s %8s %5s %11s %10s\n' total "" "" "" "" "${r[${id}_wire]}" "$(calc %.0f "${r[${id}_raw]} / ${r[${id}_wire]}")"
      echo "   with topics on both sides: raw $(calc %.0f "${r[${id}_raw]} + ${r[${id}_topic]}") / uplink $(calc %.0f "${r[${id}_wire]} + ${r[${id}_uptopic]}") = 1/$(calc %.0f "(${r[${id}_raw]} + ${r[${id}_topic]}) / (${r[${id}_wire]} + ${r[${id}_uptopic]})")"
    done
  fi
  if ! skipped day; then
    echo
    echo "2. Drain: a day ($(date -u -d "@$day_start" +%FT%TZ) + 24 h, ${r[day_msgs]} messages, x$day_scale; simulated end ${r[day_sim_end]}), central broker down"
    echo "   backlog in the outbox when the link came back: ${r[day_backlog]} records (seqs below next: $backlog_n), ${r[day_backlog_bytes]} bytes of JSON"
    echo "   per stream (0 alarms, 1 health, 2 aggregates, 3 events): $(echo "$backlog_rows" | tr '\n' ' ')"
    echo "   gateway connected and first record at the centre $(echo "${r[day_connect_s]}") s after the central broker started (reconnect backoff)"
    echo "   drained: ${r[day_drained]} records in ${r[day_drain_s]} s (first record to the last backlog record)"
    echo "   the gateway's side: the backlog left the outbox (central broker PUBACKs) in ${r[day_out_s]} s = ${r[day_out_rate]} records/s (polled every ~0.2 s)"
    echo "   CPU seconds from the link's return to the last backlog record: gateway $(calc %.2f "${r[cpu_gateway]} / 100"), receiver $(calc %.2f "${r[cpu_receiver]} / 100"), central mosquitto $(calc %.2f "${r[cpu_central_broker]} / 100"); the receiver's threads waited ${r[receiver_runq_ms]} ms for a CPU"
    echo "   per stream (records, first and last arrival in ms after the first record): $(echo "$drain_streams" | tr '\n' ' ')"
    echo "   gaps at the centre after the run: ${r[day_gaps]}; highest aggregate revision: ${r[day_maxrev]}"
    echo "   live alarms: published ${r[alarms_published]:-?}, at the centre ${r[alarms_received]}"
    echo "   alarm latency (ms) during the drain: n=${r[alarm_drain_n]} p50=${r[alarm_drain_p50]} p99=${r[alarm_drain_p99]} max=${r[alarm_drain_max]}"
    echo "   of which publish to gateway receive (the record's recv_ms) during the drain: p99=${r[alarm_ingest_p99]}"
    echo "   alarm latency (ms) after the drain:  n=${r[alarm_after_n]} p50=${r[alarm_after_p50]} p99=${r[alarm_after_p99]} max=${r[alarm_after_max]}"
    echo "   alarm latency (ms) published while the gateway was reconnecting: n=${r[alarm_reconnect_n]} p50=${r[alarm_reconnect_p50]} max=${r[alarm_reconnect_max]}"
    echo "   RSS from the link's return to the last backlog record (kB, ${r[rss_samples]} samples): first ${r[rss_first]}, min ${r[rss_min]}, max ${r[rss_max]}, last ${r[rss_last]}; VmHWM ${r[hwm_drain]}"
    echo "   VmHWM of the sending run at its end: ${r[hwm_run]} kB; of the ingesting run (the day at x$day_scale): ${r[day_hold_hwm]} kB"
  fi
  echo
  verdict() { if awk "BEGIN { exit !($1) }"; then echo ok; else echo MISSED; fi; }
  printf '| %-58s | %14s | %10s | %6s |\n' figure measured target ""
  printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..60})" "$(printf -- '-%.0s' {1..16})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..8})"
  if ! skipped hour; then
    for id in gw-hour-once gw-hour-defaults; do
      ratio=$(calc %.1f "${r[${id}_raw]} / ${r[${id}_wire]}")
      if [[ $id == gw-hour-once ]]; then
        printf '| %-58s | %14s | %10s | %6s |\n' "byte ratio, hour, each window sent once (as in real time)" "1/$ratio" \
          "≤ 1/$target_ratio" "$(verdict "$ratio >= $target_ratio")"
      else
        # Not the target: compressed x240, closed windows keep receiving samples
        # and each revision is sent (bench/README.md, "What the numbers say").
        printf '| %-58s | %14s | %10s | %6s |\n' "byte ratio, hour, one compressed run (revisions; not the target)" "1/$ratio" "" "info"
      fi
    done
  fi
  if ! skipped day; then
    printf '| %-58s | %14s | %10s | %6s |\n' "drain, records/s at the centre (live traffic on)" "${r[day_rate]}" "≥ $target_drain_rate" \
      "$(verdict "${r[day_rate]} >= $target_drain_rate")"
    printf '| %-58s | %14s | %10s | %6s |\n' "live alarm latency during the drain, p50 / p99 (ms)" \
      "${r[alarm_drain_p50]} / ${r[alarm_drain_p99]}" "p99 < $target_alarm_p99_ms" \
      "$(if [[ "${r[alarm_drain_p99]}" == n/a ]]; then echo MISSED; else verdict "${r[alarm_drain_p99]} < $target_alarm_p99_ms"; fi)"
    printf '| %-58s | %14s | %10s | %6s |\n' "gateway RSS during the drain, max VmRSS / VmHWM (kB)" "${r[rss_max]} / ${r[hwm_drain]}" \
      "≤ $target_rss_kib" "$(verdict "${r[hwm_drain]} <= $target_rss_kib")"
    printf '| %-58s | %14s | %10s | %6s |\n' "  flat: VmRSS last − first during the drain (kB)" "$(calc %d "${r[rss_last]} - ${r[rss_first]}")" "" ""
  fi
} | tee "$out/results.txt"
