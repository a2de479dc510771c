#include "gateway/store/schema.hpp"

namespace communegw {

const std::vector<std::string>& schema_migrations() {
  static const std::vector<std::string> steps = {
      // 1: initial schema. docs/storage.md explains every table.
      R"sql(
CREATE TABLE boots(
  id INTEGER PRIMARY KEY,
  boot_id TEXT NOT NULL UNIQUE,
  first_seen_ms INTEGER NOT NULL
);
CREATE TABLE devices(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  first_seen_ms INTEGER NOT NULL
);
CREATE TABLE topics(
  id INTEGER PRIMARY KEY,
  topic TEXT NOT NULL UNIQUE
);
CREATE TABLE metrics(
  name TEXT PRIMARY KEY,
  unit TEXT NOT NULL,
  description TEXT NOT NULL
) WITHOUT ROWID;
-- One row per accepted message. Its readings are a JSON object of canonical
-- metric -> value (see the readings view): one row per message instead of one
-- per reading keeps the ingest cost and the SD-card writes per message low.
CREATE TABLE messages(
  id INTEGER PRIMARY KEY,
  device INTEGER NOT NULL,
  topic INTEGER NOT NULL,
  seq INTEGER,
  device_ms INTEGER,
  recv_ms INTEGER NOT NULL,
  boot INTEGER NOT NULL,
  mono_ms INTEGER NOT NULL,
  flags INTEGER NOT NULL,
  identity INTEGER,
  readings TEXT NOT NULL
);
-- No unique index for redelivery dedupe: `identity` (a hash of topic and
-- payload, set when the message has seq or ts) is checked against an
-- in-memory window of recent identities rebuilt from this column at start
-- (gateway/store/recent_identities.hpp). Inserts stay append-only.
CREATE TABLE events(
  id INTEGER PRIMARY KEY,
  message INTEGER,
  device INTEGER NOT NULL,
  kind TEXT NOT NULL,
  severity INTEGER NOT NULL,
  start_ms INTEGER,
  end_ms INTEGER,
  recv_ms INTEGER NOT NULL,
  boot INTEGER NOT NULL,
  mono_ms INTEGER NOT NULL,
  flags INTEGER NOT NULL,
  attributes TEXT NOT NULL
);
CREATE INDEX events_by_severity ON events(severity, id);
CREATE TABLE quarantine(
  id INTEGER PRIMARY KEY,
  recv_ms INTEGER NOT NULL,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  payload_size INTEGER NOT NULL,
  reason TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE TABLE counters(
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE VIEW readings AS
  SELECT m.id AS message, d.name AS device, d.kind AS device_kind, r.key AS metric, r.value AS value,
         mt.unit AS unit, m.seq AS seq, m.device_ms AS device_ms, m.recv_ms AS recv_ms, b.boot_id AS boot_id,
         m.mono_ms AS mono_ms, (m.flags & 1) AS time_trusted, t.topic AS topic
  FROM messages m
  JOIN devices d ON d.id = m.device
  JOIN topics t ON t.id = m.topic
  JOIN boots b ON b.id = m.boot
  JOIN json_each(m.readings) r
  LEFT JOIN metrics mt ON mt.name = r.key;
)sql",
      // 2: device availability (LWT / status topics): the latest report per device.
      R"sql(
ALTER TABLE devices ADD COLUMN availability TEXT;            -- 'online', 'offline', NULL: never reported
ALTER TABLE devices ADD COLUMN availability_since_ms INTEGER; -- gateway time the state last changed
ALTER TABLE devices ADD COLUMN availability_retained INTEGER NOT NULL DEFAULT 0; -- 1: only seen in a retained message
)sql",
      // 3: edge aggregation and the uplink outbox (docs/uplink-protocol.md).
      R"sql(
-- Running statistics per device, metric, period and window, folded in from
-- `messages` (and `events`, as metric 'event:<kind>') by the aggregator, which
-- keeps its position in `cursors` in the same transaction: a restart neither
-- repeats nor skips a sample.
CREATE TABLE aggregates(
  device INTEGER NOT NULL,
  period_s INTEGER NOT NULL,
  start_ms INTEGER NOT NULL,   -- window start, Unix ms, aligned to local commune time
  metric TEXT NOT NULL,
  count INTEGER NOT NULL,
  sum REAL NOT NULL,
  min REAL NOT NULL,
  max REAL NOT NULL,
  last REAL NOT NULL,
  last_ms INTEGER NOT NULL,    -- sample time of `last`
  untrusted INTEGER NOT NULL,  -- samples whose time was not trusted
  -- Window first: the open windows of every device sit together at the end of
  -- the B-tree, so a fold rewrites a few adjacent pages, not one per device.
  PRIMARY KEY(period_s, start_ms, device, metric)
) WITHOUT ROWID;
-- One row per window of a period that is sent upstream: which revision was
-- last queued, and whether samples arrived since (late data => new revision).
CREATE TABLE aggregate_windows(
  device INTEGER NOT NULL,
  period_s INTEGER NOT NULL,
  start_ms INTEGER NOT NULL,
  revision INTEGER NOT NULL,
  changed INTEGER NOT NULL,
  outbox_seq INTEGER,  -- seq of the last queued revision: replaced in place while still unsent
  PRIMARY KEY(period_s, start_ms, device)
) WITHOUT ROWID;
CREATE INDEX aggregate_windows_changed ON aggregate_windows(start_ms) WHERE changed = 1;
-- Records waiting for the central broker's PUBACK; deleted when it arrives.
-- seq is gap-free per stream (next value in `cursors`).
CREATE TABLE outbox(
  stream INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY(stream, seq)
) WITHOUT ROWID;
-- Positions and running totals of the aggregator and the uplink.
CREATE TABLE cursors(
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
-- Bytes sent upstream per calendar month (UTC, 'YYYY-MM'), for uplink.monthly_budget.
CREATE TABLE uplink_usage(
  month TEXT PRIMARY KEY,
  bytes INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
      // 4: incidents (docs/storage.md, "Incidents"): one row per incident a device
      // reports several times, updated in place.
      R"sql(
ALTER TABLE events ADD COLUMN incident TEXT;                     -- the device's key for it; NULL: a one-off event
ALTER TABLE events ADD COLUMN revision INTEGER NOT NULL DEFAULT 1; -- 1 + updates stored since
ALTER TABLE events ADD COLUMN closed INTEGER NOT NULL DEFAULT 1;   -- 0 while the device says it goes on
ALTER TABLE events ADD COLUMN updated_ms INTEGER;                -- gateway time of the last update
ALTER TABLE events ADD COLUMN folded INTEGER;                    -- incidents: 1 once the aggregator counted it
ALTER TABLE events ADD COLUMN queued_revision INTEGER;           -- incidents: revision last queued for the uplink
-- Only incident rows are in these indexes: one-off events keep their
-- append-only inserts.
CREATE UNIQUE INDEX events_by_incident ON events(device, incident) WHERE incident IS NOT NULL;
CREATE INDEX events_unfolded_incidents ON events(id) WHERE folded = 0;
CREATE INDEX events_unqueued_incidents ON events(id) WHERE queued_revision < revision;
)sql",
      // 5: the identity of each topic's newest stored message, so that the
      // retained copy a broker sends again on every subscribe is recognised
      // (docs/storage.md, "Duplicates"). Saved every store.dedupe_window / 2
      // stored messages and at shutdown; the tail of `messages` covers the rest.
      R"sql(
ALTER TABLE topics ADD COLUMN last_identity INTEGER;
)sql",
      // 6: when each device was last heard from (docs/storage.md, "Device state").
      R"sql(
ALTER TABLE devices ADD COLUMN last_seen_ms INTEGER;  -- gateway time, up to the messages in cursor devices.last_seen_through
)sql",
      // 7: settings a store keeps for life. identity_scheme: how message
      // identities are hashed (received_message.hpp); a store that already
      // holds messages keeps FNV-1a (1), so that its stored identities still
      // match; an empty one takes XXH64 (2).
      R"sql(
CREATE TABLE store_settings(
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO store_settings(name, value)
  SELECT 'identity_scheme',
         CASE WHEN EXISTS(SELECT 1 FROM messages) OR EXISTS(SELECT 1 FROM topics WHERE last_identity IS NOT NULL)
              THEN 1 ELSE 2 END;
)sql",
      // 8: every change of a device's availability, for uptime figures
      // (docs/storage.md, "Device state"); and the devices imported from an
      // installer's CSV (`communegw device import`, docs/devices.md).
      R"sql(
CREATE TABLE availability_history(
  id INTEGER PRIMARY KEY,
  device INTEGER NOT NULL REFERENCES devices(id),
  state TEXT NOT NULL,        -- 'online' or 'offline'
  device_ms INTEGER,          -- the device's own time of the report, when its payload carries one
  recv_ms INTEGER NOT NULL,   -- gateway time it was received
  retained INTEGER NOT NULL   -- 1: learnt from the broker's retained copy (may be old)
);
CREATE INDEX availability_history_by_device ON availability_history(device, recv_ms);
INSERT INTO availability_history(device, state, device_ms, recv_ms, retained)
  SELECT id, availability, NULL, availability_since_ms, availability_retained FROM devices
  WHERE availability IS NOT NULL AND availability_since_ms IS NOT NULL;
CREATE TABLE registry(
  id TEXT PRIMARY KEY,        -- the device id as the gateway stores it (devices.name)
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  village TEXT NOT NULL,
  latitude REAL,
  longitude REAL,
  road_length_m REAL,
  report_interval_ms INTEGER,
  driver TEXT NOT NULL,
  units TEXT NOT NULL,        -- JSON object: field -> unit
  source TEXT NOT NULL,       -- where it was imported from: "<file>:<line>"
  metric_intervals TEXT NOT NULL  -- JSON object: metric -> expected interval in ms
) WITHOUT ROWID;
)sql",
  };
  return steps;
}

}  // namespace communegw
