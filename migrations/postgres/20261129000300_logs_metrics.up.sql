-- No foreign key to agents: the runtime may report lines after a delete;
-- logs.Store.DeleteAgent purges them instead.
CREATE TABLE agent_logs (
    id        BIGINT PRIMARY KEY,
    agent_id  TEXT NOT NULL,
    org_id    TEXT NOT NULL,
    replica   BIGINT NOT NULL,
    timestamp TIMESTAMPTZ NOT NULL,
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
    resolution  BIGINT NOT NULL,
    bucket      TIMESTAMPTZ NOT NULL,
    samples     BIGINT NOT NULL,
    cpu_sum     DOUBLE PRECISION NOT NULL,
    memory_sum  DOUBLE PRECISION NOT NULL,
    network_sum BIGINT NOT NULL,
    PRIMARY KEY (agent_id, resolution, bucket)
);
--bun:split
CREATE INDEX agent_metrics_resolution_bucket_idx ON agent_metrics (resolution, bucket);
