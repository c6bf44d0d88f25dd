CREATE TABLE agent_logs_old (
    id        INTEGER PRIMARY KEY,
    agent_id  TEXT NOT NULL,
    org_id    TEXT NOT NULL,
    replica   INTEGER NOT NULL,
    timestamp TIMESTAMP NOT NULL,
    level     TEXT NOT NULL,
    message   TEXT NOT NULL
);
--bun:split
INSERT INTO agent_logs_old (id, agent_id, org_id, replica, timestamp, level, message)
SELECT id, agent_id, org_id, replica, timestamp, level, message FROM agent_logs;
--bun:split
DROP TABLE agent_logs;
--bun:split
ALTER TABLE agent_logs_old RENAME TO agent_logs;
--bun:split
CREATE INDEX agent_logs_agent_id_idx ON agent_logs (agent_id, id);
--bun:split
CREATE INDEX agent_logs_timestamp_idx ON agent_logs (timestamp);
