-- One counter bumped by every change that can alter an identity behind a
-- token, in the changing transaction, whichever process makes it: the
-- identity cache trusts an entry only while the counter stands still.
CREATE TABLE identity_changes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
--bun:split
INSERT INTO identity_changes (id, n) VALUES (1, 0);
--bun:split
CREATE TRIGGER users_identity_update AFTER UPDATE ON users
BEGIN UPDATE identity_changes SET n = n + 1 WHERE id = 1; END;
--bun:split
CREATE TRIGGER users_identity_delete AFTER DELETE ON users
BEGIN UPDATE identity_changes SET n = n + 1 WHERE id = 1; END;
--bun:split
CREATE TRIGGER organizations_identity_update AFTER UPDATE ON organizations
BEGIN UPDATE identity_changes SET n = n + 1 WHERE id = 1; END;
--bun:split
CREATE TRIGGER organizations_identity_delete AFTER DELETE ON organizations
BEGIN UPDATE identity_changes SET n = n + 1 WHERE id = 1; END;
--bun:split
-- Recording a token's last use (last_used_at) changes no identity.
CREATE TRIGGER api_tokens_identity_update AFTER UPDATE OF id, org_id, user_id, role, secret_hash, token_version, expires_at ON api_tokens
BEGIN UPDATE identity_changes SET n = n + 1 WHERE id = 1; END;
--bun:split
CREATE TRIGGER api_tokens_identity_delete AFTER DELETE ON api_tokens
BEGIN UPDATE identity_changes SET n = n + 1 WHERE id = 1; END;
