ALTER TABLE agents DROP COLUMN binary_id;
--bun:split
DROP TABLE binaries;
