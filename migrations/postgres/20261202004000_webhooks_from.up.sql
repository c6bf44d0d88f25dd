-- A webhook receives the events after the newest one at its creation.
ALTER TABLE webhooks ADD COLUMN after_event_id BIGINT NOT NULL DEFAULT 0;
--bun:split
-- The start of each attempt's response body, capped, for the deliveries API.
ALTER TABLE webhook_attempts ADD COLUMN response TEXT NOT NULL DEFAULT '';
