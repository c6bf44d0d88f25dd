CREATE TABLE organizations (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    tier       TEXT NOT NULL,
    rate_limit BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
--bun:split
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
--bun:split
CREATE INDEX users_org_id_idx ON users (org_id, created_at);
--bun:split
CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    runtime       TEXT NOT NULL,
    region        TEXT NOT NULL,
    binary_url    TEXT NOT NULL,
    binary_sha256 TEXT NOT NULL,
    cpu           TEXT NOT NULL,
    memory        TEXT NOT NULL,
    replicas      BIGINT NOT NULL,
    environment   TEXT NOT NULL,
    desired       TEXT NOT NULL,
    status        TEXT NOT NULL,
    status_reason TEXT NOT NULL,
    generation    BIGINT NOT NULL,
    version       BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, name)
);
--bun:split
CREATE INDEX agents_org_created_idx ON agents (org_id, created_at);
