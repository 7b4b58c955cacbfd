-- Short-lived sessions opened with an API token (Togai's POST /authenticate without a
-- body: "for API key auth, this API generates a token which is valid for 24 hours").
-- Only the SHA-256 of the session token is kept; a session of a deleted token goes
-- with it, and one of a deactivated token stops authenticating (checked on use).
CREATE TABLE token_sessions (
    id           TEXT        NOT NULL,
    org_id       TEXT        NOT NULL,
    token_id     TEXT        NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    token_sha256 TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT token_sessions_pkey PRIMARY KEY (id),
    CONSTRAINT token_sessions_token_sha256_key UNIQUE (token_sha256),
    CONSTRAINT token_sessions_expiry CHECK (expires_at > created_at)
);
CREATE INDEX token_sessions_token ON token_sessions (token_id);
