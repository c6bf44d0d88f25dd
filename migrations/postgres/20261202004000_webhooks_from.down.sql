ALTER TABLE webhook_attempts DROP COLUMN response;
--bun:split
ALTER TABLE webhooks DROP COLUMN after_event_id;
