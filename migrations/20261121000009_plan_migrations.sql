-- Plan migrations: moving every account of a plan version to another plan version,
-- one entry per account (see src/migrations/mod.rs for the rules).

CREATE TABLE plan_migrations (
    org_id               TEXT        NOT NULL,
    id                   TEXT        NOT NULL,
    source_plan_id       TEXT        NOT NULL,
    -- NULL: every version of the source plan.
    source_version       INTEGER     NULL,
    target_plan_id       TEXT        NOT NULL,
    target_version       INTEGER     NOT NULL,
    mode                 TEXT        NOT NULL,
    retain_start_offsets BOOLEAN     NOT NULL,
    require_confirmation BOOLEAN     NOT NULL,
    status               TEXT        NOT NULL,
    -- The migration instant: given at creation, else when the job first runs. Each
    -- account's migration date is this instant's local date in its timezone.
    effective_at         TIMESTAMPTZ NULL,
    -- Set once the entries (the accounts on the source) have been listed.
    entries_listed_at    TIMESTAMPTZ NULL,
    job_id               TEXT        NULL,
    -- Accounts migrated per transaction (NULL: the default, 500).
    chunk_size           INTEGER     NULL CHECK (chunk_size > 0),
    created_at           TIMESTAMPTZ NOT NULL,
    decided_at           TIMESTAMPTZ NULL,
    started_at           TIMESTAMPTZ NULL,
    completed_at         TIMESTAMPTZ NULL,
    CONSTRAINT plan_migrations_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT plan_migrations_source_fk FOREIGN KEY (org_id, source_plan_id) REFERENCES price_plans (org_id, id),
    CONSTRAINT plan_migrations_target_fk FOREIGN KEY (org_id, target_plan_id, target_version)
        REFERENCES price_plan_versions (org_id, plan_id, version),
    CONSTRAINT plan_migrations_mode_check CHECK (mode IN
        ('IMMEDIATE', 'IMMEDIATE_IGNORE_OVERRIDE', 'NEXT_CYCLE', 'NEXT_CYCLE_IGNORE_OVERRIDE')),
    CONSTRAINT plan_migrations_status_check CHECK (status IN
        ('AWAITING_CONFIRMATION', 'REJECTED', 'PENDING', 'RUNNING', 'COMPLETED')),
    CONSTRAINT plan_migrations_not_to_itself CHECK (
        source_plan_id <> target_plan_id OR source_version IS DISTINCT FROM target_version)
);

CREATE TABLE plan_migration_entries (
    org_id            TEXT        NOT NULL,
    migration_id      TEXT        NOT NULL,
    account_id        TEXT        NOT NULL,
    status            TEXT        NOT NULL DEFAULT 'PENDING',
    -- The account's plan period on the source when it was listed.
    source_from       DATE        NOT NULL,
    source_version    INTEGER     NOT NULL,
    -- Filled in when it completes.
    switch_date       DATE        NULL,
    dropped_overrides TEXT[]      NOT NULL DEFAULT '{}',
    credited          NUMERIC     NULL,
    reason            TEXT        NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    CONSTRAINT plan_migration_entries_pkey PRIMARY KEY (org_id, migration_id, account_id),
    CONSTRAINT plan_migration_entries_migration_fk FOREIGN KEY (org_id, migration_id)
        REFERENCES plan_migrations (org_id, id),
    CONSTRAINT plan_migration_entries_account_fk FOREIGN KEY (org_id, account_id)
        REFERENCES accounts (org_id, id),
    CONSTRAINT plan_migration_entries_status_check CHECK (status IN ('PENDING', 'COMPLETED', 'FAILED')),
    CONSTRAINT plan_migration_entries_outcome_check CHECK (
        (status = 'COMPLETED') = (switch_date IS NOT NULL)
        AND (status = 'FAILED') = (reason IS NOT NULL))
);
CREATE INDEX plan_migration_entries_pending
    ON plan_migration_entries (org_id, migration_id, account_id) WHERE status = 'PENDING';
