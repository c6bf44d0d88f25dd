DROP TRIGGER api_tokens_identity_delete;
--bun:split
DROP TRIGGER api_tokens_identity_update;
--bun:split
DROP TRIGGER organizations_identity_delete;
--bun:split
DROP TRIGGER organizations_identity_update;
--bun:split
DROP TRIGGER users_identity_delete;
--bun:split
DROP TRIGGER users_identity_update;
--bun:split
DROP TABLE identity_changes;
