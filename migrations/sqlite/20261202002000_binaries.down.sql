DROP INDEX agents_binary_id_idx;
--bun:split
ALTER TABLE agents DROP COLUMN binary_id;
--bun:split
DROP TABLE binaries;
