-- Assistants, and what a reply records on its message: the inbound message
-- it answers (unique, so a retried job can never store a second reply),
-- token usage and the assistant's decisions (language, confidence).
CREATE TABLE assistants (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    name         TEXT NOT NULL,
    settings     TEXT NOT NULL DEFAULT '{}',
    credentials  TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

ALTER TABLE messages ADD COLUMN reply_to TEXT;
ALTER TABLE messages ADD COLUMN meta TEXT NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX messages_reply_to ON messages (tenant_id, reply_to) WHERE reply_to IS NOT NULL;
