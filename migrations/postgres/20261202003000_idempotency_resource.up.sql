ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_agent_id_fkey;
--bun:split
DELETE FROM idempotency_keys WHERE agent_id IS NULL;
--bun:split
ALTER TABLE idempotency_keys RENAME COLUMN agent_id TO resource_id;
--bun:split
ALTER TABLE idempotency_keys ALTER COLUMN resource_id SET NOT NULL;
--bun:split
ALTER INDEX idempotency_keys_agent_idx RENAME TO idempotency_keys_resource_idx;
