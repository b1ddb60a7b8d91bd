-- Knowledge: documents (the original bytes are kept so a document can be
-- re-indexed), their chunks with optional embeddings, and a per-tenant
-- version that every change to the searchable set bumps, so each process's
-- in-memory index knows when to catch up.
CREATE TABLE documents (
    tenant_id          TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                 TEXT NOT NULL,
    title              TEXT NOT NULL,
    source             TEXT NOT NULL,
    source_url         TEXT NOT NULL DEFAULT '',
    filename           TEXT NOT NULL DEFAULT '',
    kind               TEXT NOT NULL DEFAULT '',
    tags               TEXT NOT NULL DEFAULT '[]',
    status             TEXT NOT NULL,
    error              TEXT NOT NULL DEFAULT '',
    chunk_count        INTEGER NOT NULL DEFAULT 0,
    chunks_done        INTEGER NOT NULL DEFAULT 0,
    size_bytes         INTEGER NOT NULL DEFAULT 0,
    crawl_pages        INTEGER NOT NULL DEFAULT 0,
    generation         INTEGER NOT NULL DEFAULT 1,
    indexed_generation INTEGER NOT NULL DEFAULT 0,
    content            BLOB,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    indexed_at         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX documents_status ON documents (tenant_id, status, id);

CREATE TABLE chunks (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    document_id TEXT NOT NULL,
    position    INTEGER NOT NULL,
    heading     TEXT NOT NULL DEFAULT '',
    text        TEXT NOT NULL,
    embedding   BLOB,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, document_id) REFERENCES documents (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX chunks_document ON chunks (tenant_id, document_id, position);

CREATE TABLE knowledge_state (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    version   INTEGER NOT NULL
);

