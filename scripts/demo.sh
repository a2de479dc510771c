#!/usr/bin/env bash
# The Commune Gateway demo, self-contained on one machine:
#   - installs what it needs (idempotent apt) and builds,
#   - starts a local mosquitto (the commune broker) on a free loopback port,
#   - starts `communegw run`,
#   - simulates a commune of ~500 devices for about a minute (a simulated day
#     passes: lamps switch on at dusk, batteries drain, PM2.5 peaks, faults,
#     camera events, and ~2 % deliberately malformed messages),
#   - stops everything cleanly and prints what the gateway stored.
# Options via environment: DEMO_SECONDS (default 60), DEMO_RATE (msg/s, default 150),
# DEMO_KEEP=1 keeps the working directory.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${DEMO_SECONDS:-60}
rate=${DEMO_RATE:-150}

scripts/install-deps.sh
echo "== building"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$root/build" -j2 communegw communegw-sim >/dev/null
gw="$root/build/gateway/communegw"
sim="$root/build/tools/sim/communegw-sim"

work=$(mktemp -d /tmp/communegw-demo-XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ "${DEMO_KEEP:-0}" != 1 ]]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap cleanup EXIT

# A free loopback port: bash's /dev/tcp fails to connect where nothing listens.
port=""
for _ in $(seq 1 50); do
  candidate=$((20000 + RANDOM % 40000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then port=$candidate; break; fi
done
[[ -n "$port" ]] || { echo "no free port found" >&2; exit 1; }

mkdir -m 777 "$work/broker"
cat > "$work/broker/mosquitto.conf" <<CONF
# Demo broker: loopback only, anonymous (never do this on a LAN; see deploy/).
listener $port 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
log_dest file $work/broker/mosquitto.log
CONF
mosquitto -c "$work/broker/mosquitto.conf" &
pids+=($!)

cat > "$work/communegw.toml" <<CONF
[gateway]
id = "gw-demo-01"
province = "demo-province"
commune = "xa-demo"
[mqtt]
uri = "tcp://127.0.0.1:$port"
reconnect_min = "200ms"
[store]
path = "state/communegw.db"
[log]
stats_interval = "15s"
CONF

echo "== starting the gateway (log: $work/gateway.log)"
"$gw" --config "$work/communegw.toml" run > "$work/gateway.log" 2>&1 &
gw_pid=$!
pids+=($gw_pid)
for _ in $(seq 1 100); do
  grep -q "subscribed" "$work/gateway.log" 2>/dev/null && break
  sleep 0.1
done

echo "== simulating xa-demo for ${seconds}s: 400 streetlights, 80 environment stations, 20 cameras, ${rate} msg/s"
"$sim" --broker "tcp://127.0.0.1:$port" --commune xa-demo --streetlights 400 --env-stations 80 --cameras 20 \
  --duration "$seconds" --rate "$rate" --malformed-ratio 0.02 --time-scale 1440 --seed 2026 \
  --summary-json "$work/sim-summary.json"

# Let the gateway drain what the broker still holds, then stop it the way systemd would.
db="$work/state/communegw.db"
last=-1
for _ in $(seq 1 50); do
  now=$(sqlite3 -readonly "$db" "SELECT coalesce(sum(value),0) FROM counters WHERE name IN ('stored_messages','duplicate_messages') OR name LIKE 'rejected.%'" 2>/dev/null || echo 0)
  [[ "$now" == "$last" ]] && break
  last=$now
  sleep 0.5
done
kill -TERM "$gw_pid"
wait "$gw_pid" && echo "== gateway stopped cleanly (exit 0)"

q() { sqlite3 -readonly -column -header "$db" "$@"; }
echo
echo "================ summary ================"
echo "-- published by the simulator"
sqlite3 :memory: "SELECT 'messages: ' || json_extract(s, '\$.messages') || ', of which hostile: ' || json_extract(s, '\$.hostile_total') ||
                  ', acknowledged by the broker: ' || json_extract(s, '\$.acknowledged')
                  FROM (SELECT CAST(readfile('$work/sim-summary.json') AS TEXT) AS s)"
echo
echo "-- stored, per device class"
q "SELECT r.device_kind AS class, count(DISTINCT r.device) AS devices, count(DISTINCT r.message) AS messages, count(*) AS readings
   FROM readings r GROUP BY 1 ORDER BY 1"
echo
echo "-- events, per kind and severity"
q "SELECT kind, CASE severity WHEN 0 THEN 'info' WHEN 1 THEN 'warning' ELSE 'alarm' END AS severity, count(*) AS events
   FROM events GROUP BY kind, severity ORDER BY kind, severity"
echo
echo "-- rejected input, per reason (each one is in the quarantine table with its payload)"
q "SELECT substr(name, 10) AS reason, value AS count FROM counters WHERE name LIKE 'rejected.%' ORDER BY value DESC"
echo
echo "-- counters"
q "SELECT name, value FROM counters WHERE name NOT LIKE 'rejected.%' ORDER BY name"
echo
for kind in streetlight environment; do
  device=$(sqlite3 -readonly "$db" "SELECT name FROM devices WHERE kind = '$kind' ORDER BY name LIMIT 1")
  echo "-- latest values of $device"
  q "SELECT metric, value, unit, strftime('%H:%M:%S', recv_ms / 1000, 'unixepoch') AS received_utc FROM readings
     WHERE message = (SELECT max(m.id) FROM messages m JOIN devices d ON d.id = m.device WHERE d.name = '$device')"
  echo
done
echo "-- store"
ls -l "$work/state" | awk 'NR > 1 { printf "%-28s %10d bytes\n", $9, $5 }'
echo
echo "-- communegw check"
"$gw" --config "$work/communegw.toml" check || true
echo
echo "Try: $gw --config $work/communegw.toml query readings --limit 20   (with DEMO_KEEP=1)"
