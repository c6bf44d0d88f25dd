DROP TABLE billing_state;
--bun:split
DROP TABLE invoices;
--bun:split
DROP TABLE storage_usage;
--bun:split
DROP TABLE network_usage;
--bun:split
DROP TABLE replica_intervals;
