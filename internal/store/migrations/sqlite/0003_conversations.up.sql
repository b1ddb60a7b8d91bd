-- Channels, contacts, conversations and messages. Every foreign key carries
-- tenant_id, so a row can never point into another tenant.
CREATE TABLE channels (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id              TEXT NOT NULL,
    type            TEXT NOT NULL CHECK (type IN ('web', 'whatsapp', 'messenger', 'instagram', 'telegram', 'api')),
    name            TEXT NOT NULL,
    assistant_id    TEXT,
    config          TEXT NOT NULL DEFAULT '{}',
    secrets         TEXT NOT NULL DEFAULT '',
    public_key      TEXT UNIQUE,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE contacts (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    channel_id   TEXT NOT NULL,
    external_id  TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    email        TEXT NOT NULL DEFAULT '',
    phone        TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, channel_id, external_id),
    FOREIGN KEY (tenant_id, channel_id) REFERENCES channels (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE conversations (
    tenant_id       TEXT NOT NULL,
    id              TEXT NOT NULL,
    channel_id      TEXT NOT NULL,
    contact_id      TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'bot' CHECK (status IN ('bot', 'human', 'resolved')),
    assignee_id     TEXT,
    last_seq        INTEGER NOT NULL DEFAULT 0,
    last_message_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, channel_id) REFERENCES channels (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX conversations_contact ON conversations (tenant_id, contact_id, id);

CREATE TABLE messages (
    tenant_id           TEXT NOT NULL,
    id                  TEXT NOT NULL,
    conversation_id     TEXT NOT NULL,
    channel_id          TEXT NOT NULL,
    seq                 INTEGER NOT NULL,
    role                TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'agent', 'system', 'note')),
    text                TEXT NOT NULL,
    client_id           TEXT,
    provider_message_id TEXT,
    author_id           TEXT NOT NULL DEFAULT '',
    delivery            TEXT NOT NULL DEFAULT '',
    citations           TEXT NOT NULL DEFAULT '[]',
    created_at          INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, conversation_id, seq),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX messages_client_id ON messages (tenant_id, conversation_id, client_id) WHERE client_id IS NOT NULL;
CREATE UNIQUE INDEX messages_provider_id ON messages (channel_id, provider_message_id) WHERE provider_message_id IS NOT NULL;
