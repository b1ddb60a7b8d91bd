-- Provider channels: what the API shows as a channel's health, the account
-- a webhook is routed by, when the contact last wrote (the 24-hour
-- customer-service window), and why a delivery failed.
ALTER TABLE channels ADD COLUMN account_id text NOT NULL DEFAULT '';
ALTER TABLE channels ADD COLUMN last_inbound_at bigint NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN last_outbound_at bigint NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN last_error text NOT NULL DEFAULT '';
ALTER TABLE channels ADD COLUMN last_error_at bigint NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN webhook_verified_at bigint NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN last_inbound_at bigint NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN needs_template boolean NOT NULL DEFAULT false;
ALTER TABLE messages ADD COLUMN delivery_error text NOT NULL DEFAULT '';
CREATE INDEX messages_provider_lookup ON messages (tenant_id, provider_message_id) WHERE provider_message_id IS NOT NULL;

-- Media that came with a message, fetched from the provider at once (its
-- ids expire) and kept for agents.
CREATE TABLE media (
    tenant_id   uuid NOT NULL,
    id          uuid NOT NULL,
    message_id  uuid NOT NULL,
    provider_id text NOT NULL DEFAULT '',
    mime_type   text NOT NULL DEFAULT '',
    filename    text NOT NULL DEFAULT '',
    size_bytes  bigint NOT NULL DEFAULT 0,
    data        bytea,
    error       text NOT NULL DEFAULT '',
    created_at  bigint NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, message_id) REFERENCES messages (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX media_message ON media (tenant_id, message_id);
ALTER TABLE media ENABLE ROW LEVEL SECURITY;
ALTER TABLE media FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON media
    USING (current_setting('app.system', true) = 'on'
           OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
