-- Verified provider webhooks waiting to be processed. The webhook answers
-- once its body is here (many requests share one transaction), and a job
-- stores the messages and statuses it carries. A byte-identical resend of
-- a body still waiting is not stored twice; the message-level unique key
-- (channel_id, provider_message_id) deduplicates everything else.
CREATE TABLE webhook_events (
    tenant_id   uuid NOT NULL,
    id          uuid NOT NULL,
    channel_id  uuid NOT NULL,
    body_hash   bytea NOT NULL,
    body        bytea NOT NULL,
    request_id  text NOT NULL DEFAULT '',
    received_at bigint NOT NULL,
    error       text NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, id),
    UNIQUE (channel_id, body_hash),
    FOREIGN KEY (tenant_id, channel_id) REFERENCES channels (tenant_id, id) ON DELETE CASCADE
);
-- The webhook job processes waiting events oldest first.
CREATE INDEX webhook_events_order ON webhook_events (received_at, id);
ALTER TABLE webhook_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_events
    USING (current_setting('app.system', true) = 'on'
           OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
