#!/usr/bin/env bash
# SD-card wear at a realistic commune load: how many bytes the gateway writes
# per day (write_bytes from /proc/<pid>/io), with a commune of 1,000
# streetlights, 50 environment stations and 20 cameras reporting at their own
# periods (60 s, 30 s, on motion), aggregation on, uplink off.
# Usage: bench/sd_wear.sh [measured seconds, default 120]   (needs build/ from scripts/test.sh or demo.sh)
# A 70 s warm-up comes first: every device reports once (streetlights every
# 60 s), so the device and topic rows are written once, as on a running gateway.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${1:-120}
warmup=70
gw="$root/build/gateway/communegw"
sim="$root/build/tools/sim/communegw-sim"
[[ -x "$gw" && -x "$sim" ]] || { echo "build first (scripts/test.sh or scripts/demo.sh)" >&2; exit 1; }

work=$(mktemp -d /tmp/communegw-sdwear-XXXXXX)
chmod 755 "$work"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 40000))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((20000 + RANDOM % 40000)); done
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n' "$port" > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" >/dev/null 2>&1 & pids+=($!)
sleep 0.5
cat > "$work/gw.toml" <<CONF
[gateway]
id = "gw-sdwear"
province = "p"
commune = "c"
[mqtt]
uri = "tcp://127.0.0.1:$port"
[store]
path = "state/gw.db"
${SDWEAR_EXTRA:-}
[clock]
# As on a board with NTP: untrusted samples would wait up to aggregate.clock_wait before folding.
trust = "always"
[log]
stats_interval = "0s"
CONF
"$gw" --config "$work/gw.toml" run > "$work/gw.log" 2>&1 & gw_pid=$!; pids+=($gw_pid)
for _ in $(seq 1 100); do grep -q subscribed "$work/gw.log" && break; sleep 0.1; done
"$sim" --broker "tcp://127.0.0.1:$port" --commune c --streetlights 1000 --env-stations 50 --cameras 20 \
  --duration "$((seconds + warmup))" -q --summary-json "$work/sim.json" &
sim_pid=$!; pids+=($sim_pid)
sleep "$warmup"
before=$(awk '/^write_bytes:/ {print $2}' "/proc/$gw_pid/io")
t0=$(date +%s.%N)
wait "$sim_pid"
after=$(awk '/^write_bytes:/ {print $2}' "/proc/$gw_pid/io")
t1=$(date +%s.%N)
# At commune rates the writer gathers for up to store.commit_interval (1 s):
# let the last messages commit before counting them (the bytes are measured above).
sleep 2
messages=$(sqlite3 -readonly "$work/state/gw.db" "SELECT count(*) FROM messages")
payload=$(sqlite3 :memory: "SELECT json_extract(CAST(readfile('$work/sim.json') AS TEXT), '\$.payload_bytes')")
published=$(sqlite3 :memory: "SELECT json_extract(CAST(readfile('$work/sim.json') AS TEXT), '\$.messages')")
awk -v b="$before" -v a="$after" -v t0="$t0" -v t1="$t1" -v m="$messages" -v p="$payload" -v n="$published" -v s="$((seconds + warmup))" -v w="$warmup" 'BEGIN {
  dt = t1 - t0; rate = (a - b) / dt;
  printf "messages published %d in %d s (%.1f msg/s), stored %d\n", n, s, n / s, m;
  printf "gateway disk writes: %.1f KiB/s = %.2f GiB/day (measured over %.0f s after a %d s warm-up)\n", rate / 1024, rate * 86400 / 2^30, dt, w;
  printf "per message: %.0f bytes written for %.0f payload bytes (%.1fx)\n", rate / (n / s), p / n, (rate / (n / s)) / (p / n);
}'
