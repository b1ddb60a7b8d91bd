-- A provider's status report that arrived before the message it names had
-- its provider id stored (Meta may report "sent" before the send call's
-- answer is committed). It is applied when the id is stored, and forgotten
-- after 7 days (Meta's redelivery horizon).
CREATE TABLE early_statuses (
    tenant_id           TEXT NOT NULL,
    channel_id          TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    status              TEXT NOT NULL,
    rank                INTEGER NOT NULL,
    error               TEXT NOT NULL DEFAULT '',
    window_closed       INTEGER NOT NULL DEFAULT 0,
    received_at         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, channel_id, provider_message_id),
    FOREIGN KEY (tenant_id, channel_id) REFERENCES channels (tenant_id, id) ON DELETE CASCADE
);
