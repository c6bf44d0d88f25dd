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
CREATE FUNCTION identity_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE identity_changes SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END
$$;
--bun:split
CREATE TRIGGER users_identity_changed AFTER UPDATE OR DELETE ON users
FOR EACH STATEMENT EXECUTE FUNCTION identity_changed();
--bun:split
CREATE TRIGGER organizations_identity_changed AFTER UPDATE OR DELETE ON organizations
FOR EACH STATEMENT EXECUTE FUNCTION identity_changed();
--bun:split
-- Recording a token's last use (last_used_at) changes no identity.
CREATE TRIGGER api_tokens_identity_changed AFTER UPDATE OF id, org_id, user_id, role, secret_hash, token_version, expires_at OR DELETE ON api_tokens
FOR EACH STATEMENT EXECUTE FUNCTION identity_changed();
