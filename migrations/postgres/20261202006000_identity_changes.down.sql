DROP TRIGGER api_tokens_identity_changed ON api_tokens;
--bun:split
DROP TRIGGER organizations_identity_changed ON organizations;
--bun:split
DROP TRIGGER users_identity_changed ON users;
--bun:split
DROP FUNCTION identity_changed();
--bun:split
DROP TABLE identity_changes;
