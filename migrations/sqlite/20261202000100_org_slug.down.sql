DROP INDEX organizations_slug_idx;
--bun:split
ALTER TABLE organizations DROP COLUMN slug;
