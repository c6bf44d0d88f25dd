ALTER TABLE idempotency_keys ADD COLUMN agent_id TEXT REFERENCES agents (id) ON DELETE CASCADE;
--bun:split
UPDATE idempotency_keys SET agent_id = response::jsonb ->> 'ID'
WHERE response::jsonb ->> 'ID' IN (SELECT id FROM agents);
--bun:split
DELETE FROM idempotency_keys WHERE agent_id IS NULL;
--bun:split
CREATE INDEX idempotency_keys_agent_idx ON idempotency_keys (agent_id);
