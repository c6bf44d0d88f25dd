DELETE FROM idempotency_keys WHERE resource_id NOT IN (SELECT id FROM agents);
--bun:split
ALTER INDEX idempotency_keys_resource_idx RENAME TO idempotency_keys_agent_idx;
--bun:split
ALTER TABLE idempotency_keys ALTER COLUMN resource_id DROP NOT NULL;
--bun:split
ALTER TABLE idempotency_keys RENAME COLUMN resource_id TO agent_id;
--bun:split
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES agents (id) ON DELETE CASCADE;
