#!/usr/bin/python3
"""Live camera alarms with their publish time, for the uplink benchmark's
alarm latency (bench/uplink.sh, bench/README.md "Uplink benchmark").

This sample publishes native-format tamper events (docs/native-format.md) at a
fixed rate, at QoS 1, from one camera of its own. Each carries the wall-clock
time it was handed to the broker, in milliseconds, twice: as "ts" (seconds,
the device time the gateway stores) and in the zone, "t=<ms>", which travels
unchanged into the alarm record's attributes, so the centre's received_ms
minus that number is the end-to-end latency (same machine, same clock).

Needs python3-paho-mqtt (run it with /usr/bin/python3). Stops on SIGTERM or
after --duration seconds; prints how many it published and how many were
acknowledged.
"""
import argparse
import json
import signal
import sys
import time

import paho.mqtt.client as mqtt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker-host", default="127.0.0.1")
    parser.add_argument("--broker-port", type=int, required=True)
    parser.add_argument("--commune", required=True)
    parser.add_argument("--device", default="cam-latency")
    parser.add_argument("--rate", type=float, default=10.0, help="alarms per second")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds")
    args = parser.parse_args()

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    acked = 0

    def on_publish(_client, _userdata, _mid):
        nonlocal acked
        acked += 1

    client = mqtt.Client(client_id=f"communegw-bench-alarms-{args.device}", clean_session=True)
    client.on_publish = on_publish
    client.connect(args.broker_host, args.broker_port, keepalive=60)
    client.loop_start()
    topic = f"commune/{args.commune}/camera/{args.device}/event"
    # Device seqs above anything the simulator uses for this (new) device.
    seq = int(time.time() * 1_000_000)
    published = 0
    interval = 1.0 / args.rate
    deadline = time.monotonic() + args.duration
    next_at = time.monotonic()
    while not stopping and time.monotonic() < deadline:
        now_ms = int(time.time() * 1000)
        payload = json.dumps({"seq": seq, "ts": now_ms / 1000.0, "event": "tamper", "severity": "alarm",
                              "zone": f"t={now_ms}"}, separators=(",", ":"))
        client.publish(topic, payload, qos=1)
        seq += 1
        published += 1
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    time.sleep(1.0)
    client.loop_stop()
    client.disconnect()
    print(f"alarm_publisher: published {published}, acknowledged {acked}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
