-- Account self-service: one-time password reset links, and pending
-- self-service sign-ups awaiting email verification. Only SHA-256 hashes
-- of the link tokens are stored. Neither table is tenant-owned: both are
-- read before anyone is signed in (system scope).
CREATE TABLE password_resets (
    token_hash text PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    used_at    bigint
);
CREATE INDEX password_resets_user ON password_resets (user_id);

-- A sign-up becomes a tenant, a user and an owner membership only when its
-- verification link is followed: until then nobody can sign in with it.
CREATE TABLE signups (
    token_hash    text PRIMARY KEY,
    email         text NOT NULL,
    name          text NOT NULL DEFAULT '',
    tenant_name   text NOT NULL CHECK (length(tenant_name) BETWEEN 1 AND 200),
    password_hash text NOT NULL,
    created_at    bigint NOT NULL,
    expires_at    bigint NOT NULL,
    used_at       bigint
);
CREATE INDEX signups_expires ON signups (expires_at);
