CREATE TABLE idempotency_keys_new (
    org_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    operation       TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    response        TEXT NOT NULL,
    resource_id     TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, operation, idempotency_key)
);
--bun:split
INSERT INTO idempotency_keys_new
SELECT org_id, operation, idempotency_key, request_hash, response, agent_id, created_at FROM idempotency_keys WHERE agent_id IS NOT NULL;
--bun:split
DROP TABLE idempotency_keys;
--bun:split
ALTER TABLE idempotency_keys_new RENAME TO idempotency_keys;
--bun:split
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
--bun:split
CREATE INDEX idempotency_keys_resource_idx ON idempotency_keys (resource_id);
