DROP TABLE event_cursors;
--bun:split
DROP TABLE webhook_attempts;
--bun:split
DROP TABLE webhook_deliveries;
--bun:split
DROP TABLE webhooks;
--bun:split
DROP TABLE events;
