#!/usr/bin/env bash
# The Commune Gateway demo, self-contained on one machine:
#   - installs what it needs (idempotent apt) and builds,
#   - starts a local mosquitto (the commune broker) on a free loopback port,
#   - starts a "central" mosquitto with TLS (certificates made here with
#     openssl) and passwords, and the reference receiver `communegw central`,
#   - imports five streetlights into the device registry from a CSV,
#   - starts `communegw run`, with its uplink to the central broker,
#   - simulates a commune of ~500 devices for about a minute (a simulated day
#     passes: lamps switch on at dusk, batteries drain, PM2.5 peaks, faults,
#     camera events, and ~2 % deliberately malformed messages),
#   - cuts the uplink (stops the central broker) for a third of the run and
#     restores it: the backlog waits in the gateway's store and drains,
#   - stops everything cleanly and prints what the gateway stored and what the
#     centre received (records per stream, gaps, duplicates, bytes).
# Options via environment: DEMO_SECONDS (default 60), DEMO_RATE (msg/s, default 150),
# DEMO_KEEP=1 keeps the working directory.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${DEMO_SECONDS:-60}
rate=${DEMO_RATE:-150}

scripts/install-deps.sh
echo "== building"
# The same flags as scripts/test.sh, so that the two commands share build/ without rebuilding.
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" >/dev/null
ninja -C "$root/build" -j2 communegw communegw-sim >/dev/null
gw="$root/build/gateway/communegw"
sim="$root/build/tools/sim/communegw-sim"

work=$(mktemp -d /tmp/communegw-demo-XXXXXX)
chmod 755 "$work"
# free_port, wait_log; what is in started_pids is stopped on exit, then on_exit runs.
log_prefix=demo
source scripts/lib.sh
on_exit() {
  if [[ "${DEMO_KEEP:-0}" != 1 ]]; then rm -rf "$work"; else echo "kept $work"; fi
}
port=$(free_port)
central_port=$(free_port)
wait_for_line() {  # file pattern: up to 10 s
  wait_log "$1" "$2" 10 || die "timed out waiting for \"$2\" in $1"
}

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
started_pids+=($!)

echo "== starting the central side: TLS broker on 127.0.0.1:$central_port and communegw central"
central="$work/central"
mkdir -p -m 777 "$central" && mkdir -p "$central/pki" && chmod 755 "$central/pki"
(
  cd "$central/pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=demo-central-ca -keyout ca.key -out ca.crt
  openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr
  echo "subjectAltName=IP:127.0.0.1,DNS:localhost" > san.cnf
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile san.cnf -out server.crt
) >/dev/null 2>&1
chmod 644 "$central/pki/"*
gw_password=$(openssl rand -hex 16)
centre_password=$(openssl rand -hex 16)
mosquitto_passwd -b -c "$central/passwd" gw-demo-01 "$gw_password"
mosquitto_passwd -b "$central/passwd" centre "$centre_password"
chmod 644 "$central/passwd"
(umask 077; echo "$gw_password" > "$work/uplink.pw"; echo "$centre_password" > "$central/centre.pw")
cat > "$central/mosquitto.conf" <<CONF
# Demo central broker: TLS with a certificate made above, passwords, persistence
# (the receiver's session survives a restart, as at a real programme server).
listener $central_port 127.0.0.1
allow_anonymous false
password_file $central/passwd
cafile $central/pki/ca.crt
certfile $central/pki/server.crt
keyfile $central/pki/server.key
persistence true
persistence_location $central/
max_queued_messages 0
log_dest file $central/mosquitto.log
CONF
start_central_broker() {
  mosquitto -c "$central/mosquitto.conf" &
  central_broker_pid=$!
  started_pids+=($central_broker_pid)
}
start_central_broker
sleep 0.5
"$gw" central --uri "ssl://127.0.0.1:$central_port" --db "$central/central.db" --ca-file "$central/pki/ca.crt" \
  --username centre --password-file "$central/centre.pw" > "$central/receiver.log" 2>&1 &
receiver_pid=$!
started_pids+=($receiver_pid)
wait_for_line "$central/receiver.log" "subscribed (QoS 1) to communegw/v1/+/+/+/alarms"
wait_for_line "$central/receiver.log" "subscribed (QoS 1) to communegw/v1/+/+/+/status"

cat > "$work/communegw.toml" <<CONF
[gateway]
id = "gw-demo-01"
province = "demo-province"
commune = "xa-demo"
[mqtt]
uri = "tcp://127.0.0.1:$port"
# A client id no device can guess (communegw init writes one like it).
client_id = "communegw-gw-demo-01-$(openssl rand -hex 6)"
reconnect_min = "200ms"
[store]
path = "state/communegw.db"
[aggregate]
# One-minute windows so that some close during a one-minute demo (default: 5m and 1h).
periods = ["1m", "1h"]
close_delay = "5s"
interval = "5s"
[clock]
# This host may not report NTP sync, and untrusted samples wait up to
# aggregate.clock_wait (1h) for it; a board in the field keeps "auto".
trust = "always"
[uplink]
enabled = true
uri = "ssl://127.0.0.1:$central_port"
ca_file = "$central/pki/ca.crt"
username = "gw-demo-01"
password_file = "uplink.pw"
aggregate_periods = ["1m"]
health_interval = "10s"
reconnect_min = "500ms"
reconnect_max = "3s"
[log]
stats_interval = "15s"
CONF

echo "== registering five streetlights from an installer's spreadsheet (communegw device import)"
cat > "$work/devices.csv" <<'CSV'
id,kind,name,village,latitude,longitude,road_length_m,report_interval
sl-001,streetlight,Đèn cổng làng,Thôn 1,22.8233,104.9784,35,1m
sl-002,streetlight,Đèn nhà văn hóa,Thôn 1,22.8236,104.9790,30,1m
sl-003,streetlight,Đèn ngã ba chợ,Thôn 2,22.8241,104.9801,40,1m
sl-004,streetlight,Đèn cầu tràn,Thôn 2,22.8250,104.9812,25,1m
sl-005,streetlight,Đèn trường tiểu học,Thôn 3,22.8262,104.9825,35,1m
CSV
"$gw" --config "$work/communegw.toml" device import "$work/devices.csv"

echo "== starting the gateway (log: $work/gateway.log)"
"$gw" --config "$work/communegw.toml" run > "$work/gateway.log" 2>&1 &
gw_pid=$!
started_pids+=($gw_pid)
wait_for_line "$work/gateway.log" "mqtt: subscribed"

echo "== simulating xa-demo for ${seconds}s: 400 streetlights, 80 environment stations, 20 cameras, ${rate} msg/s"
"$sim" --broker "tcp://127.0.0.1:$port" --commune xa-demo --streetlights 400 --env-stations 80 --cameras 20 \
  --duration "$seconds" --rate "$rate" --malformed-ratio 0.02 --time-scale 1440 --seed 2026 \
  --summary-json "$work/sim-summary.json" &
sim_pid=$!
outage=$((seconds / 3))
sleep "$outage"
echo "== cutting the uplink: central broker down for ${outage}s (the gateway keeps ingesting; the backlog waits in its store)"
kill -TERM "$central_broker_pid"; wait "$central_broker_pid" 2>/dev/null || true
sleep "$outage"
echo "== uplink restored: $(sqlite3 -readonly "$work/state/communegw.db" "SELECT count(*) FROM outbox") records waiting in the outbox"
start_central_broker
wait "$sim_pid"

# Let the gateway drain what the broker still holds, then stop it the way systemd would.
db="$work/state/communegw.db"
last=-1
for _ in $(seq 1 50); do
  now=$(sqlite3 -readonly "$db" "SELECT coalesce(sum(value),0) FROM counters WHERE name IN ('stored_messages','duplicate_messages') OR name LIKE 'rejected.%'" 2>/dev/null || echo 0)
  [[ "$now" == "$last" ]] && break
  last=$now
  sleep 0.5
done
# And let the uplink drain its backlog to the centre.
for _ in $(seq 1 60); do
  [[ $(sqlite3 -readonly "$db" "SELECT count(*) FROM outbox" 2>/dev/null || echo 1) == 0 ]] && break
  sleep 0.5
done
kill -TERM "$gw_pid"
wait "$gw_pid" && echo "== gateway stopped cleanly (exit 0)"
sleep 1
kill -TERM "$receiver_pid"; wait "$receiver_pid" 2>/dev/null || true

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
echo "================ at the centre ================"
echo "-- records per stream (gaps must be 0; duplicates are batches resent after the outage, dropped by seq)"
"$gw" central --db "$central/central.db" --summary
echo
echo "-- upstream bytes vs forwarding every raw message (as a Mosquitto bridge would)"
raw_bytes=$(sqlite3 :memory: "SELECT json_extract(CAST(readfile('$work/sim-summary.json') AS TEXT), '\$.payload_bytes')")
sent_bytes=$(sqlite3 -readonly "$central/central.db" "SELECT coalesce(sum(wire_bytes), 0) FROM stream_stats")
echo "raw payload bytes published: $raw_bytes; uplink bytes received (zstd batches, incl. duplicates): $sent_bytes" \
  "(ratio 1/$(( raw_bytes / (sent_bytes > 0 ? sent_bytes : 1) )))"
echo "(a one-minute demo with 1-minute windows; with the default hourly windows the ratio is far larger)"
echo
echo "-- latest aggregate of one streetlight at the centre"
sqlite3 -readonly "$central/central.db" "SELECT body FROM latest_aggregates WHERE body LIKE '%streetlight%' ORDER BY start_ms DESC LIMIT 1"
echo
echo "-- two registered streetlights: the registry beside what the gateway heard (communegw query devices)"
"$gw" --config "$work/communegw.toml" query devices --device sl-001
"$gw" --config "$work/communegw.toml" query devices --device sl-003
echo
echo "-- communegw check"
"$gw" --config "$work/communegw.toml" check || true
echo
echo "Try: $gw --config $work/communegw.toml query readings --limit 20   (with DEMO_KEEP=1)"
