-- A provider's status report that arrived before the message it names had
-- its provider id stored (Meta may report "sent" before the send call's
-- answer is committed). It is applied when the id is stored, and forgotten
-- after 7 days (Meta's redelivery horizon).
CREATE TABLE early_statuses (
    tenant_id           uuid NOT NULL,
    channel_id          uuid NOT NULL,
    provider_message_id text NOT NULL,
    status              text NOT NULL,
    rank                integer NOT NULL,
    error               text NOT NULL DEFAULT '',
    window_closed       boolean NOT NULL DEFAULT false,
    received_at         bigint NOT NULL,
    PRIMARY KEY (tenant_id, channel_id, provider_message_id),
    FOREIGN KEY (tenant_id, channel_id) REFERENCES channels (tenant_id, id) ON DELETE CASCADE
);
ALTER TABLE early_statuses ENABLE ROW LEVEL SECURITY;
ALTER TABLE early_statuses FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON early_statuses
    USING (current_setting('app.system', true) = 'on'
           OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
