-- Assistants, and what a reply records on its message: the inbound message
-- it answers (unique, so a retried job can never store a second reply),
-- token usage and the assistant's decisions (language, confidence).
CREATE TABLE assistants (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    name         text NOT NULL,
    settings     text NOT NULL DEFAULT '{}',
    credentials  text NOT NULL DEFAULT '',
    created_at   bigint NOT NULL,
    updated_at   bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE assistants ENABLE ROW LEVEL SECURITY;
ALTER TABLE assistants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON assistants
    USING (current_setting('app.system', true) = 'on'
           OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE messages ADD COLUMN reply_to uuid;
ALTER TABLE messages ADD COLUMN meta text NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX messages_reply_to ON messages (tenant_id, reply_to) WHERE reply_to IS NOT NULL;
