DROP TABLE agent_metrics;
--bun:split
DROP TABLE agent_logs;
