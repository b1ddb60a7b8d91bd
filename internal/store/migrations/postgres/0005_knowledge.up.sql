-- Knowledge: documents (the original bytes are kept so a document can be
-- re-indexed), their chunks with optional embeddings, and a per-tenant
-- version that every change to the searchable set bumps, so each process's
-- in-memory index knows when to catch up.
CREATE TABLE documents (
    tenant_id          uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                 uuid NOT NULL,
    title              text NOT NULL,
    source             text NOT NULL,
    source_url         text NOT NULL DEFAULT '',
    filename           text NOT NULL DEFAULT '',
    kind               text NOT NULL DEFAULT '',
    tags               text NOT NULL DEFAULT '[]',
    status             text NOT NULL,
    error              text NOT NULL DEFAULT '',
    chunk_count        integer NOT NULL DEFAULT 0,
    chunks_done        integer NOT NULL DEFAULT 0,
    size_bytes         bigint NOT NULL DEFAULT 0,
    crawl_pages        integer NOT NULL DEFAULT 0,
    generation         integer NOT NULL DEFAULT 1,
    indexed_generation integer NOT NULL DEFAULT 0,
    content            bytea,
    created_at         bigint NOT NULL,
    updated_at         bigint NOT NULL,
    indexed_at         bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX documents_status ON documents (tenant_id, status, id);

CREATE TABLE chunks (
    tenant_id   uuid NOT NULL,
    id          uuid NOT NULL,
    document_id uuid NOT NULL,
    position    integer NOT NULL,
    heading     text NOT NULL DEFAULT '',
    text        text NOT NULL,
    embedding   bytea,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, document_id) REFERENCES documents (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX chunks_document ON chunks (tenant_id, document_id, position);

CREATE TABLE knowledge_state (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    version   bigint NOT NULL
);

ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON documents
    USING (current_setting('app.system', true) = 'on'
           OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
ALTER TABLE chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE chunks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON chunks
    USING (current_setting('app.system', true) = 'on'
           OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
ALTER TABLE knowledge_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE knowledge_state FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON knowledge_state
    USING (current_setting('app.system', true) = 'on'
           OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
