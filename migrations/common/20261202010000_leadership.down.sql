DROP TABLE replica_addresses;
--bun:split
DROP TABLE leases;
--bun:split
DROP TABLE instances;
