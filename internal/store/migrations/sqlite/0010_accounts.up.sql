-- Account self-service: one-time password reset links, and pending
-- self-service sign-ups awaiting email verification. Only SHA-256 hashes
-- of the link tokens are stored. Neither table is tenant-owned: both are
-- read before anyone is signed in (system scope).
CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX password_resets_user ON password_resets (user_id);

-- A sign-up becomes a tenant, a user and an owner membership only when its
-- verification link is followed: until then nobody can sign in with it.
CREATE TABLE signups (
    token_hash    TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    name          TEXT NOT NULL DEFAULT '',
    tenant_name   TEXT NOT NULL CHECK (length(tenant_name) BETWEEN 1 AND 200),
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER
);
CREATE INDEX signups_expires ON signups (expires_at);
