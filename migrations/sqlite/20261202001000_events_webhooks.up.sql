-- The durable event log: written in the transaction of the change it
-- records; AUTOINCREMENT ids never repeat, so readers resume by id.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id     TEXT NOT NULL,
    agent_id   TEXT NOT NULL,
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
--bun:split
CREATE INDEX events_org_idx ON events (org_id, id);
--bun:split
CREATE INDEX events_created_at_idx ON events (created_at);
--bun:split
CREATE TABLE webhooks (
    id                     TEXT PRIMARY KEY,
    org_id                 TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url                    TEXT NOT NULL,
    events                 TEXT NOT NULL,
    secret                 TEXT NOT NULL,
    previous_secret        TEXT NOT NULL DEFAULT '',
    previous_expires_at    TIMESTAMP,
    active                 BOOLEAN NOT NULL,
    disabled_reason        TEXT NOT NULL DEFAULT '',
    failing_since          TIMESTAMP,
    created_at             TIMESTAMP NOT NULL,
    updated_at             TIMESTAMP NOT NULL
);
--bun:split
CREATE INDEX webhooks_org_idx ON webhooks (org_id, created_at);
--bun:split
-- The outbox: one row per event and webhook, claimed with a lease.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    event_id        INTEGER,
    message_id      TEXT NOT NULL,
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at TIMESTAMP,
    lease_until     TIMESTAMP,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
--bun:split
CREATE UNIQUE INDEX webhook_deliveries_event_idx ON webhook_deliveries (webhook_id, event_id);
--bun:split
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (status, next_attempt_at);
--bun:split
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, created_at);
--bun:split
CREATE TABLE webhook_attempts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id   TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at  TIMESTAMP NOT NULL,
    status_code   INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    error         TEXT NOT NULL,
    next_retry_at TIMESTAMP
);
--bun:split
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
--bun:split
-- How far each consumer of the event log has read.
CREATE TABLE event_cursors (
    name    TEXT PRIMARY KEY,
    last_id INTEGER NOT NULL
);
--bun:split
INSERT INTO event_cursors (name, last_id) VALUES ('webhooks', 0);
