CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    secret_hash   TEXT NOT NULL UNIQUE,
    token_version INTEGER NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    expires_at    TIMESTAMP,
    last_used_at  TIMESTAMP
);
--bun:split
CREATE INDEX api_tokens_org_created_idx ON api_tokens (org_id, created_at);
--bun:split
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);
