-- Daily analytics: one row per tenant and UTC day (day is YYYY-MM-DD),
-- recomputed by a periodic job from the day's conversations and messages,
-- so the overview never scans messages. A conversation counts on the day
-- it started; messages on the day they were written.
CREATE TABLE analytics_daily (
    tenant_id             uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    day                   text NOT NULL,
    conversations         bigint NOT NULL DEFAULT 0,
    messages_in           bigint NOT NULL DEFAULT 0,
    messages_out          bigint NOT NULL DEFAULT 0,
    resolved_by_bot       bigint NOT NULL DEFAULT 0,
    handoffs              bigint NOT NULL DEFAULT 0,
    first_responses       bigint NOT NULL DEFAULT 0,
    first_response_p50_ms bigint NOT NULL DEFAULT 0,
    first_response_p95_ms bigint NOT NULL DEFAULT 0,
    first_response_hist   text NOT NULL DEFAULT '',
    knowledge_hits        bigint NOT NULL DEFAULT 0,
    knowledge_misses      bigint NOT NULL DEFAULT 0,
    computed_at           bigint NOT NULL,
    PRIMARY KEY (tenant_id, day)
);

-- How often the day's replies cited each document (the title as cited,
-- for documents deleted since).
CREATE TABLE analytics_daily_documents (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    day         text NOT NULL,
    document_id uuid NOT NULL,
    title       text NOT NULL DEFAULT '',
    citations   bigint NOT NULL,
    PRIMARY KEY (tenant_id, day, document_id)
);

-- Questions the day's replies found no passage for, by normalised text.
CREATE TABLE analytics_daily_unanswered (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    day           text NOT NULL,
    question_hash text NOT NULL,
    question      text NOT NULL,
    asked         bigint NOT NULL,
    PRIMARY KEY (tenant_id, day, question_hash)
);

-- The computation reads a day's conversations and messages by time.
CREATE INDEX conversations_created ON conversations (tenant_id, created_at);
CREATE INDEX messages_created ON messages (tenant_id, created_at);

-- Row-level security, as for the other tenant tables.
ALTER TABLE analytics_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE analytics_daily FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON analytics_daily
    USING (current_setting('app.system', true) = 'on'
           OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
ALTER TABLE analytics_daily_documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE analytics_daily_documents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON analytics_daily_documents
    USING (current_setting('app.system', true) = 'on'
           OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
ALTER TABLE analytics_daily_unanswered ENABLE ROW LEVEL SECURITY;
ALTER TABLE analytics_daily_unanswered FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON analytics_daily_unanswered
    USING (current_setting('app.system', true) = 'on'
           OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
