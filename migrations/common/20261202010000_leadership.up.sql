-- Instances sharing the database, seen within a lease: the local runtime
-- driver refuses to share it with another machine.
CREATE TABLE instances (
    id         TEXT PRIMARY KEY,
    machine    TEXT NOT NULL,
    driver     TEXT NOT NULL,
    seen_at_ms BIGINT NOT NULL
);
--bun:split
-- The singleton work's lease: one holder until expires_at_ms (Unix ms).
CREATE TABLE leases (
    name          TEXT PRIMARY KEY,
    holder        TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
--bun:split
-- The leader's replicas' addresses (host:port, comma-separated, up ones
-- only), so that every instance's endpoint proxy reaches them.
CREATE TABLE replica_addresses (
    agent_id  TEXT PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    addresses TEXT NOT NULL
);
