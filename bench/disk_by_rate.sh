#!/usr/bin/env bash
# Disk bytes written per payload byte at steady arrival rates (not a backlog):
#   bench/disk_by_rate.sh                 # rates 100 400 1000 2000 4000 8000 msg/s
#   BENCH_RATES="1000 2000" bench/disk_by_rate.sh
#   BENCH_STORE="gather_above = 500" bench/disk_by_rate.sh   # extra [store] lines
# For each rate: a fresh store, `communegw run` subscribed, 3 s of quiet (the
# writer commits continuously for its first 2 s), then communegw-sim publishes
# 200-byte env telemetry at that rate for BENCH_SECONDS (20) at QoS 1. The
# figure is the growth of the gateway's /proc/<pid>/io write_bytes from just
# before publishing to 2 s after it, divided by the payload bytes published.
# The writer's policy changes with the rate (docs/durability.md): below 500
# msg/s it gathers for store.commit_interval, from 500 to 5,000 it commits
# every message or two, above that it gathers a backlog; this shows what each
# band costs the SD card. Uses build-bench/ (bench/run.sh builds it).
set -Eeuo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BENCH_BUILD_DIR:-$repo/build-bench}
rates=${BENCH_RATES:-100 400 1000 2000 4000 8000}
seconds=${BENCH_SECONDS:-20}
store_settings=${BENCH_STORE:-}
out=${BENCH_OUT:-$build/bench-results/disk-by-rate-$(date +%Y%m%dT%H%M%S)}
log_prefix=disk-by-rate
source "$repo/scripts/lib.sh"
ensure_bench_tools cmake ninja mosquitto sqlite3 /usr/bin/python3

gateway_bin=$build/gateway/communegw
sim_bin=$build/tools/sim/communegw-sim
[[ -x "$gateway_bin" && -x "$sim_bin" ]] || die "build $build first (bench/run.sh does)"
mkdir -p "$out"

port=$(free_port)
broker=tcp://127.0.0.1:$port
sed "s/@PORT@/$port/" "$repo/bench/mosquitto.conf" >"$out/mosquitto.conf"
mosquitto -c "$out/mosquitto.conf" >"$out/mosquitto.log" 2>&1 &
started_pids+=("$!")
for _ in $(seq 50); do
  (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

printf '%-10s %10s %10s %10s %12s %14s %8s\n' "msg/s" "published" "stored" "commits" "page bytes" "disk/payload" "MB/s"
for rate in $rates; do
  dir=$out/rate-$rate
  mkdir -p "$dir"
  cat >"$dir/communegw.toml" <<EOF
[gateway]
id = "bench"
province = "bench"
commune = "rate-$rate"
[mqtt]
uri = "$broker"
client_id = "communegw-disk-$rate"
[store]
path = "gateway.db"
$store_settings
[log]
stats_interval = "60s"
[driver.native]
topics = ["commune/rate-$rate/+/+/+"]
EOF
  (cd "$dir" && exec "$gateway_bin" -c communegw.toml run >run.log 2>&1) &
  gw_pid=$!
  started_pids+=("$gw_pid")
  wait_log "$dir/run.log" "mqtt: subscribed" 30 || die "the gateway did not subscribe (see $dir/run.log)"
  sleep 3
  before=$(awk '/^write_bytes:/ {print $2}' "/proc/$gw_pid/io")
  "$sim_bin" --broker "$broker" --commune "rate-$rate" --bench-payload --bench-bytes 200 --env-stations 100 \
    --rate "$rate" --duration "$seconds" --qos 1 --summary-json "$dir/published.json" -q ||
    die "communegw-sim failed at $rate msg/s"
  sleep 2
  after=$(awk '/^write_bytes:/ {print $2}' "/proc/$gw_pid/io")
  kill -TERM "$gw_pid"
  wait "$gw_pid" || die "the gateway exited non-zero (see $dir/run.log)"
  payload=$(json_number "$dir/published.json" payload_bytes)
  commits=$(sed -n 's/.*stopped: .* in \([0-9]*\) commits.*/\1/p' "$dir/run.log")
  stored=$(sqlite3 -readonly "$dir/gateway.db" "SELECT count(*) FROM messages")
  page=$(sqlite3 -readonly "$dir/gateway.db" "PRAGMA page_size")
  published=$(json_number "$dir/published.json" acknowledged)
  printf '%-10s %10s %10s %10s %12s %14s %8s\n' "$rate" "$published" "$stored" "$commits" "$page" \
    "$(calc %.2f "($after - $before) / $payload")" "$(calc %.2f "($after - $before) / (($seconds + 2) * 1e6)")"
done | tee "$out/results.txt"
