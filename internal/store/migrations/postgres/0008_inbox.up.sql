-- The inbox: how far each user has read each conversation (unread counts)
-- and the tenant's canned responses.
CREATE TABLE conversation_reads (
    tenant_id       uuid NOT NULL,
    conversation_id uuid NOT NULL,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_read_seq   bigint NOT NULL DEFAULT 0,
    updated_at      bigint NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id, user_id),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX conversation_reads_user ON conversation_reads (tenant_id, user_id);

CREATE TABLE canned_responses (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL,
    title      text NOT NULL,
    text       text NOT NULL,
    created_at bigint NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, title)
);

CREATE INDEX conversations_activity ON conversations (tenant_id, last_message_at);

ALTER TABLE conversation_reads ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversation_reads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON conversation_reads
    USING (current_setting('app.system', true) = 'on'
           OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
ALTER TABLE canned_responses ENABLE ROW LEVEL SECURITY;
ALTER TABLE canned_responses FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON canned_responses
    USING (current_setting('app.system', true) = 'on'
           OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
