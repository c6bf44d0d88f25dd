CREATE TABLE idempotency_keys (
    org_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    operation       TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    response        TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, operation, idempotency_key)
);
--bun:split
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
