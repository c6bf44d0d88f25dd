ALTER TABLE organizations ADD COLUMN slug TEXT NOT NULL DEFAULT '';
--bun:split
-- The slug of an existing organization is its name in lowercase with
-- punctuation and spaces as single hyphens (SQLite has no regular
-- expressions: a name with other characters gets org-<id>).
UPDATE organizations SET slug = trim(replace(replace(replace(
    replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
    replace(replace(replace(replace(replace(replace(replace(replace(replace(lower(name),
    ' ', '-'), '_', '-'), '.', '-'), ',', '-'), '/', '-'), '\', '-'), ':', '-'), ';', '-'), '@', '-'),
    '&', '-'), '+', '-'), '(', '-'), ')', '-'), '''', '-'), '"', '-'), '!', '-'), '?', '-'), '#', '-'),
    '*', '-'), '=', '-'), '|', '-'), '--', '-'), '--', '-'), '--', '-'), '--', '-'), '-');
--bun:split
UPDATE organizations SET slug = 'org-' || substr(id, 5)
WHERE slug = '' OR length(slug) > 40 OR slug GLOB '*[^a-z0-9-]*' OR slug GLOB '*--*';
--bun:split
-- Names that give the same slug: the oldest keeps it, the others add their id.
UPDATE organizations SET slug = slug || '-' || substr(id, 5)
WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.slug = organizations.slug
    AND (o.created_at < organizations.created_at OR (o.created_at = organizations.created_at AND o.id < organizations.id)));
--bun:split
CREATE UNIQUE INDEX organizations_slug_idx ON organizations (slug);
