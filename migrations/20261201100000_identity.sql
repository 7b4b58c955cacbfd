-- Identity (issue 14 items 3, 4, 6): API tokens, users and their invitations and
-- sessions, and the audit trail. Secrets are never stored: a token, an invitation link
-- and a session token are each a random 256-bit secret, stored as its SHA-256 (hex);
-- a password is stored as an argon2id PHC string.
--
-- Roles are Togai's Admin Center roles (identity::roles).

CREATE TABLE api_tokens (
    id           TEXT        NOT NULL,
    org_id       TEXT        NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    name         TEXT        NOT NULL,
    role         TEXT        NOT NULL
        CHECK (role IN ('ADMINISTRATOR', 'ANALYST', 'DEVELOPER', 'PRODUCT_MANAGER')),
    -- Shown to users (in `token list` and in the token itself: brt_<prefix>_<secret>).
    prefix       TEXT        NOT NULL,
    -- SHA-256 (hex) of the whole token; the token itself is shown once and never stored.
    token_sha256 TEXT        NOT NULL,
    status       TEXT        NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE')),
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ NULL,
    CONSTRAINT api_tokens_pkey PRIMARY KEY (id),
    CONSTRAINT api_tokens_prefix_key UNIQUE (prefix),
    CONSTRAINT api_tokens_token_sha256_key UNIQUE (token_sha256),
    CONSTRAINT api_tokens_name_key UNIQUE (org_id, name)
);
CREATE INDEX api_tokens_org ON api_tokens (org_id, created_at, id);

CREATE TABLE users (
    org_id        TEXT        NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    -- Lower-cased when written.
    email         TEXT        NOT NULL,
    role          TEXT        NOT NULL
        CHECK (role IN ('ADMINISTRATOR', 'ANALYST', 'DEVELOPER', 'PRODUCT_MANAGER')),
    status        TEXT        NOT NULL CHECK (status IN ('INVITED', 'ACTIVE')),
    -- argon2id PHC string; set when the invitation is accepted.
    password_hash TEXT        NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (org_id, email),
    CONSTRAINT users_email_lower CHECK (email = lower(email)),
    CONSTRAINT users_password_when_active CHECK ((status = 'ACTIVE') = (password_hash IS NOT NULL))
);
CREATE INDEX users_email ON users (email);

-- Single-use, expiring invitations; the link's secret stored as its SHA-256.
CREATE TABLE user_invites (
    id           TEXT        NOT NULL,
    org_id       TEXT        NOT NULL,
    email        TEXT        NOT NULL,
    token_sha256 TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    -- Set when accepted, or when a newer invitation replaces this one.
    used_at      TIMESTAMPTZ NULL,
    CONSTRAINT user_invites_pkey PRIMARY KEY (id),
    CONSTRAINT user_invites_token_sha256_key UNIQUE (token_sha256),
    CONSTRAINT user_invites_user_fk FOREIGN KEY (org_id, email)
        REFERENCES users (org_id, email) ON DELETE CASCADE,
    CONSTRAINT user_invites_expiry CHECK (expires_at > created_at)
);

-- Sessions from `identity::users::authenticate`: expiring, the token stored hashed.
CREATE TABLE user_sessions (
    id           TEXT        NOT NULL,
    org_id       TEXT        NOT NULL,
    email        TEXT        NOT NULL,
    token_sha256 TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT user_sessions_pkey PRIMARY KEY (id),
    CONSTRAINT user_sessions_token_sha256_key UNIQUE (token_sha256),
    CONSTRAINT user_sessions_user_fk FOREIGN KEY (org_id, email)
        REFERENCES users (org_id, email) ON DELETE CASCADE,
    CONSTRAINT user_sessions_expiry CHECK (expires_at > created_at)
);

-- The audit trail: one row per change (or refused change) through the CLI or the API.
-- Append-only: the triggers below refuse UPDATE, DELETE and TRUNCATE whatever runs
-- them. No foreign key to organisations: the trail outlives what it describes.
CREATE TABLE audit_log (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY,
    at          TIMESTAMPTZ NOT NULL,
    org_id      TEXT        NOT NULL,
    actor_kind  TEXT        NOT NULL CHECK (actor_kind IN ('USER', 'TOKEN', 'CLI')),
    actor_id    TEXT        NOT NULL,
    action      TEXT        NOT NULL,
    object_type TEXT        NOT NULL,
    object_id   TEXT        NOT NULL,
    outcome     TEXT        NOT NULL CHECK (outcome IN ('SUCCESS', 'FAILURE')),
    details     JSONB       NOT NULL DEFAULT '{}',
    CONSTRAINT audit_log_pkey PRIMARY KEY (id)
);
CREATE INDEX audit_log_org ON audit_log (org_id, id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'audit_log_append_only';
END
$$;
CREATE TRIGGER audit_log_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
