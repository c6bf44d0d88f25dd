DROP INDEX agent_logs_org_id_idx;
--bun:split
ALTER TABLE agent_logs DROP COLUMN bytes;
--bun:split
ALTER TABLE agent_logs ALTER COLUMN id DROP IDENTITY;
