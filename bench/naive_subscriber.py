#!/usr/bin/python3
"""The naive baseline of the ingest benchmark: what a quick prototype of the
gateway looks like. python3-paho-mqtt 1.6.1 and sqlite3 with their defaults
(rollback journal, synchronous=FULL), one INSERT and one COMMIT per message,
done in on_message so the PUBACK follows the commit.

  --subscribe-only   connect with the fixed client id (clean_session=False),
                     subscribe at QoS 1 and disconnect: the broker keeps the
                     session and queues messages while we are away
  --count N          drain N messages into --db, print the time taken, exit

Run it with /usr/bin/python3: the python3 on PATH may lack paho. The last line
of output is machine-readable for bench/run.sh:
  RESULT count=<n> connect_to_last_s=<s> first_to_last_s=<s> rate=<msg/s>
"""
import argparse
import json
import sqlite3
import sys
import time
from urllib.parse import urlparse

import paho.mqtt.client as mqtt


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="tcp://127.0.0.1:1883", help="broker URI (tcp://host:port)")
    parser.add_argument("--client-id", default="communegw-bench-python")
    parser.add_argument("--topic", default="commune/+/+/+/+")
    parser.add_argument("--count", type=int, default=0, help="exit after this many messages")
    parser.add_argument("--db", default="naive.db", help="SQLite file to insert into")
    parser.add_argument("--subscribe-only", action="store_true")
    # paho 1.6.1 drops its own connection on keepalive when on_message is slow
    # (paho.mqtt.python#328): a long keepalive keeps the baseline honest.
    parser.add_argument("--keepalive", type=int, default=3600)
    args = parser.parse_args()
    if not args.subscribe_only and args.count <= 0:
        parser.error("give --count N, or --subscribe-only")
    uri = urlparse(args.broker)
    if uri.scheme not in ("tcp", "mqtt") or not uri.hostname:
        parser.error("--broker must be tcp://host:port")
    args.host, args.port = uri.hostname, uri.port or 1883
    return args


def main():
    args = parse_args()
    state = {"count": 0, "first": None, "last": None, "failed": None}

    db = None
    if not args.subscribe_only:
        db = sqlite3.connect(args.db)
        db.execute(
            "CREATE TABLE IF NOT EXISTS messages("
            "id INTEGER PRIMARY KEY, topic TEXT, device TEXT, seq INTEGER, ts INTEGER, readings TEXT)"
        )
        db.commit()

    def on_connect(client, userdata, flags, rc):
        if rc != 0:
            state["failed"] = f"broker refused the connection (rc {rc})"
            client.disconnect()
            return
        client.subscribe(args.topic, qos=1)

    def on_subscribe(client, userdata, mid, granted_qos):
        if args.subscribe_only:
            client.disconnect()

    def on_message(client, userdata, message):
        now = time.monotonic()
        if state["first"] is None:
            state["first"] = now
        data = json.loads(message.payload)
        device = message.topic.split("/")[3]
        readings = {k: v for k, v in data.items() if k not in ("seq", "ts", "pad")}
        db.execute(
            "INSERT INTO messages(topic, device, seq, ts, readings) VALUES(?, ?, ?, ?, ?)",
            (message.topic, device, data.get("seq"), data.get("ts"), json.dumps(readings)),
        )
        db.commit()
        state["count"] += 1
        if state["count"] >= args.count:
            state["last"] = time.monotonic()
            client.disconnect()

    client = mqtt.Client(client_id=args.client_id, clean_session=False, protocol=mqtt.MQTTv311)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message

    started = time.monotonic()
    try:
        client.connect(args.host, args.port, keepalive=args.keepalive)
    except OSError as error:
        print(f"naive-subscriber: cannot connect to {args.broker}: {error}", file=sys.stderr)
        return 1
    # Returns when a callback disconnects: after the last message, after the
    # SUBACK with --subscribe-only, or when the broker refused us.
    client.loop_forever()

    if state["failed"]:
        print(f"naive-subscriber: {state['failed']}", file=sys.stderr)
        return 1
    if args.subscribe_only:
        print(f"naive-subscriber: session {args.client_id} subscribed to {args.topic} at QoS 1")
        return 0
    if state["last"] is None:
        print(f"naive-subscriber: stopped with {state['count']} of {args.count} messages", file=sys.stderr)
        return 1
    connect_to_last = state["last"] - started
    first_to_last = state["last"] - state["first"]
    rate = args.count / connect_to_last
    print(f"naive-subscriber: {args.count} messages in {connect_to_last:.3f} s from connect "
          f"({first_to_last:.3f} s first to last) = {rate:.0f} msg/s")
    print(f"RESULT count={args.count} connect_to_last_s={connect_to_last:.6f} "
          f"first_to_last_s={first_to_last:.6f} rate={rate:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
