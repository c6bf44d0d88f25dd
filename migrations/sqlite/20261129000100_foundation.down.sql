DROP TABLE agents;
--bun:split
DROP TABLE users;
--bun:split
DROP TABLE organizations;
