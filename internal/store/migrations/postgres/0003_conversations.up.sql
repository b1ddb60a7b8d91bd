-- Channels, contacts, conversations and messages. Every foreign key carries
-- tenant_id, so a row can never point into another tenant.
CREATE TABLE channels (
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    type            text NOT NULL CHECK (type IN ('web', 'whatsapp', 'messenger', 'instagram', 'telegram', 'api')),
    name            text NOT NULL,
    assistant_id    uuid,
    config          text NOT NULL DEFAULT '{}',
    secrets         text NOT NULL DEFAULT '',
    public_key      text UNIQUE,
    created_at      bigint NOT NULL,
    updated_at      bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE contacts (
    tenant_id    uuid NOT NULL,
    id           uuid NOT NULL,
    channel_id   uuid NOT NULL,
    external_id  text NOT NULL,
    name         text NOT NULL DEFAULT '',
    email        text NOT NULL DEFAULT '',
    phone        text NOT NULL DEFAULT '',
    created_at   bigint NOT NULL,
    last_seen_at bigint NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, channel_id, external_id),
    FOREIGN KEY (tenant_id, channel_id) REFERENCES channels (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE conversations (
    tenant_id       uuid NOT NULL,
    id              uuid NOT NULL,
    channel_id      uuid NOT NULL,
    contact_id      uuid NOT NULL,
    status          text NOT NULL DEFAULT 'bot' CHECK (status IN ('bot', 'human', 'resolved')),
    assignee_id     uuid,
    last_seq        bigint NOT NULL DEFAULT 0,
    last_message_at bigint NOT NULL,
    created_at      bigint NOT NULL,
    updated_at      bigint NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, channel_id) REFERENCES channels (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX conversations_contact ON conversations (tenant_id, contact_id, id);

CREATE TABLE messages (
    tenant_id           uuid NOT NULL,
    id                  uuid NOT NULL,
    conversation_id     uuid NOT NULL,
    channel_id          uuid NOT NULL,
    seq                 bigint NOT NULL,
    role                text NOT NULL CHECK (role IN ('user', 'assistant', 'agent', 'system', 'note')),
    text                text NOT NULL,
    client_id           text,
    provider_message_id text,
    author_id           text NOT NULL DEFAULT '',
    delivery            text NOT NULL DEFAULT '',
    citations           text NOT NULL DEFAULT '[]',
    created_at          bigint NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, conversation_id, seq),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX messages_client_id ON messages (tenant_id, conversation_id, client_id) WHERE client_id IS NOT NULL;
CREATE UNIQUE INDEX messages_provider_id ON messages (channel_id, provider_message_id) WHERE provider_message_id IS NOT NULL;

-- Row-level security, as for the account tables (see 0002).
ALTER TABLE channels ENABLE ROW LEVEL SECURITY;
ALTER TABLE channels FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON channels
    USING (current_setting('app.system', true) = 'on'
           OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
ALTER TABLE contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE contacts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contacts
    USING (current_setting('app.system', true) = 'on'
           OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
ALTER TABLE conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON conversations
    USING (current_setting('app.system', true) = 'on'
           OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
ALTER TABLE messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE messages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON messages
    USING (current_setting('app.system', true) = 'on'
           OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
