DROP INDEX idempotency_keys_agent_idx;
--bun:split
ALTER TABLE idempotency_keys DROP COLUMN agent_id;
