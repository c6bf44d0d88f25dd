CREATE TABLE binaries (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    sha256     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (org_id, sha256)
);
--bun:split
CREATE INDEX binaries_org_created_idx ON binaries (org_id, created_at);
--bun:split
-- No foreign key here: SQLite cannot drop a column that has one, and with
-- its one writer the in-use check before a delete is not raced.
ALTER TABLE agents ADD COLUMN binary_id TEXT;
--bun:split
CREATE INDEX agents_binary_id_idx ON agents (binary_id);
