-- Daily analytics: one row per tenant and UTC day (day is YYYY-MM-DD),
-- recomputed by a periodic job from the day's conversations and messages,
-- so the overview never scans messages. A conversation counts on the day
-- it started; messages on the day they were written.
CREATE TABLE analytics_daily (
    tenant_id             TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    day                   TEXT NOT NULL,
    conversations         INTEGER NOT NULL DEFAULT 0,
    messages_in           INTEGER NOT NULL DEFAULT 0,
    messages_out          INTEGER NOT NULL DEFAULT 0,
    resolved_by_bot       INTEGER NOT NULL DEFAULT 0,
    handoffs              INTEGER NOT NULL DEFAULT 0,
    first_responses       INTEGER NOT NULL DEFAULT 0,
    first_response_p50_ms INTEGER NOT NULL DEFAULT 0,
    first_response_p95_ms INTEGER NOT NULL DEFAULT 0,
    first_response_hist   TEXT NOT NULL DEFAULT '',
    knowledge_hits        INTEGER NOT NULL DEFAULT 0,
    knowledge_misses      INTEGER NOT NULL DEFAULT 0,
    computed_at           INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, day)
);

-- How often the day's replies cited each document (the title as cited,
-- for documents deleted since).
CREATE TABLE analytics_daily_documents (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    day         TEXT NOT NULL,
    document_id TEXT NOT NULL,
    title       TEXT NOT NULL DEFAULT '',
    citations   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, day, document_id)
);

-- Questions the day's replies found no passage for, by normalised text.
CREATE TABLE analytics_daily_unanswered (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    day           TEXT NOT NULL,
    question_hash TEXT NOT NULL,
    question      TEXT NOT NULL,
    asked         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, day, question_hash)
);

-- The computation reads a day's conversations and messages by time.
CREATE INDEX conversations_created ON conversations (tenant_id, created_at);
CREATE INDEX messages_created ON messages (tenant_id, created_at);
