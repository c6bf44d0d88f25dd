-- Billing's own record of what ran. An interval is one replica process
-- (instance names it, so a restarted replica is a new interval); it is
-- open while ended_at is NULL, and last_seen_at, moved on every
-- heartbeat, is where a crashed server's open interval ends.
CREATE TABLE replica_intervals (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id       TEXT NOT NULL,
    agent_id     TEXT NOT NULL,
    instance     TEXT NOT NULL,
    started_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    ended_at     TIMESTAMP
);
--bun:split
CREATE UNIQUE INDEX replica_intervals_open_idx ON replica_intervals (agent_id, instance) WHERE ended_at IS NULL;
--bun:split
CREATE INDEX replica_intervals_org_idx ON replica_intervals (org_id, started_at);
--bun:split
-- Bytes through an agent's endpoint, summed per UTC day.
CREATE TABLE network_usage (
    org_id   TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    day      TEXT NOT NULL,
    bytes    BIGINT NOT NULL,
    PRIMARY KEY (agent_id, day)
);
--bun:split
CREATE INDEX network_usage_org_idx ON network_usage (org_id, day);
--bun:split
-- Stored bytes integrated over time per month: byte_seconds over the
-- month's seconds is the average, in bytes, for the month so far.
CREATE TABLE storage_usage (
    org_id       TEXT NOT NULL,
    period       TEXT NOT NULL,
    byte_seconds TEXT NOT NULL,
    bytes        BIGINT NOT NULL,
    sampled_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, period)
);
--bun:split
CREATE TABLE invoices (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    period        TEXT NOT NULL,
    status        TEXT NOT NULL,
    compute_hours BIGINT NOT NULL,
    storage_gb    BIGINT NOT NULL,
    network_gb    BIGINT NOT NULL,
    compute_cost  BIGINT NOT NULL,
    storage_cost  BIGINT NOT NULL,
    network_cost  BIGINT NOT NULL,
    amount        BIGINT NOT NULL,
    due_date      TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    UNIQUE (org_id, period)
);
--bun:split
-- The month close's progress: the last period closed for every organization.
CREATE TABLE billing_state (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
