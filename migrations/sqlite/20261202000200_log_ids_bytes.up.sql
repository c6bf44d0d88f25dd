-- Line ids come from the database: AUTOINCREMENT never hands out an id
-- again, not even after the newest lines were deleted. bytes (the
-- message's length in bytes) feeds the per-organization byte cap, whose
-- index answers an organization's sum without reading the messages.
CREATE TABLE agent_logs_new (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id  TEXT NOT NULL,
    org_id    TEXT NOT NULL,
    replica   INTEGER NOT NULL,
    timestamp TIMESTAMP NOT NULL,
    level     TEXT NOT NULL,
    message   TEXT NOT NULL,
    bytes     INTEGER NOT NULL
);
--bun:split
INSERT INTO agent_logs_new (id, agent_id, org_id, replica, timestamp, level, message, bytes)
SELECT id, agent_id, org_id, replica, timestamp, level, message, LENGTH(CAST(message AS BLOB)) FROM agent_logs;
--bun:split
DROP TABLE agent_logs;
--bun:split
ALTER TABLE agent_logs_new RENAME TO agent_logs;
--bun:split
CREATE INDEX agent_logs_agent_id_idx ON agent_logs (agent_id, id);
--bun:split
CREATE INDEX agent_logs_timestamp_idx ON agent_logs (timestamp);
--bun:split
CREATE INDEX agent_logs_org_id_idx ON agent_logs (org_id, id, bytes);
