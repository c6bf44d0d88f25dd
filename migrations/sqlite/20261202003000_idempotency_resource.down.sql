CREATE TABLE idempotency_keys_old (
    org_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    operation       TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    response        TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    agent_id        TEXT REFERENCES agents (id) ON DELETE CASCADE,
    PRIMARY KEY (org_id, operation, idempotency_key)
);
--bun:split
INSERT INTO idempotency_keys_old
SELECT org_id, operation, idempotency_key, request_hash, response, created_at, resource_id FROM idempotency_keys
WHERE resource_id IN (SELECT id FROM agents);
--bun:split
DROP TABLE idempotency_keys;
--bun:split
ALTER TABLE idempotency_keys_old RENAME TO idempotency_keys;
--bun:split
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
--bun:split
CREATE INDEX idempotency_keys_agent_idx ON idempotency_keys (agent_id);
