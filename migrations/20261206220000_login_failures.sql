-- Failed sign-ins, for login throttling (README "Security"): one row per wrong email
-- or password, by the address tried (lower-cased) and the client's IP. Rows older than
-- the throttling window are deleted as new ones are written.
CREATE TABLE login_failures (
    id     BIGINT      GENERATED ALWAYS AS IDENTITY,
    email  TEXT        NOT NULL,
    ip     TEXT        NOT NULL,
    at     TIMESTAMPTZ NOT NULL,
    CONSTRAINT login_failures_pkey PRIMARY KEY (id)
);
CREATE INDEX login_failures_email ON login_failures (email, at);
CREATE INDEX login_failures_ip ON login_failures (ip, at);
