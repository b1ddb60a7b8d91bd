-- Provider channels: what the API shows as a channel's health, the account
-- a webhook is routed by, when the contact last wrote (the 24-hour
-- customer-service window), and why a delivery failed.
ALTER TABLE channels ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
ALTER TABLE channels ADD COLUMN last_inbound_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN last_outbound_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE channels ADD COLUMN last_error_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN webhook_verified_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN last_inbound_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN needs_template INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN delivery_error TEXT NOT NULL DEFAULT '';
CREATE INDEX messages_provider_lookup ON messages (tenant_id, provider_message_id) WHERE provider_message_id IS NOT NULL;

-- Media that came with a message, fetched from the provider at once (its
-- ids expire) and kept for agents.
CREATE TABLE media (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    provider_id TEXT NOT NULL DEFAULT '',
    mime_type   TEXT NOT NULL DEFAULT '',
    filename    TEXT NOT NULL DEFAULT '',
    size_bytes  INTEGER NOT NULL DEFAULT 0,
    data        BLOB,
    error       TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, message_id) REFERENCES messages (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX media_message ON media (tenant_id, message_id);
