-- No foreign key to agents: the runtime may report lines after a delete;
-- logs.Store.DeleteAgent purges them instead.
CREATE TABLE agent_logs (
    id        INTEGER PRIMARY KEY,
    agent_id  TEXT NOT NULL,
    org_id    TEXT NOT NULL,
    replica   INTEGER NOT NULL,
    timestamp TIMESTAMP NOT NULL,
    level     TEXT NOT NULL,
    message   TEXT NOT NULL
);
--bun:split
CREATE INDEX agent_logs_agent_id_idx ON agent_logs (agent_id, id);
--bun:split
CREATE INDEX agent_logs_timestamp_idx ON agent_logs (timestamp);
--bun:split
-- One row per agent, resolution (60 or 3600 seconds) and bucket start:
-- samples are added into their minute and hour rows as they are taken.
CREATE TABLE agent_metrics (
    agent_id    TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    resolution  INTEGER NOT NULL,
    bucket      TIMESTAMP NOT NULL,
    samples     INTEGER NOT NULL,
    cpu_sum     REAL NOT NULL,
    memory_sum  REAL NOT NULL,
    network_sum INTEGER NOT NULL,
    PRIMARY KEY (agent_id, resolution, bucket)
);
--bun:split
CREATE INDEX agent_metrics_resolution_bucket_idx ON agent_metrics (resolution, bucket);
