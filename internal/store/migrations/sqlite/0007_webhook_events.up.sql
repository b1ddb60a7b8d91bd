-- Verified provider webhooks waiting to be processed. The webhook answers
-- once its body is here (many requests share one transaction), and a job
-- stores the messages and statuses it carries. A byte-identical resend of
-- a body still waiting is not stored twice; the message-level unique key
-- (channel_id, provider_message_id) deduplicates everything else.
CREATE TABLE webhook_events (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    channel_id  TEXT NOT NULL,
    body_hash   BLOB NOT NULL,
    body        BLOB NOT NULL,
    request_id  TEXT NOT NULL DEFAULT '',
    received_at INTEGER NOT NULL,
    error       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, id),
    UNIQUE (channel_id, body_hash),
    FOREIGN KEY (tenant_id, channel_id) REFERENCES channels (tenant_id, id) ON DELETE CASCADE
);
-- The webhook job processes waiting events oldest first.
CREATE INDEX webhook_events_order ON webhook_events (received_at, id);
