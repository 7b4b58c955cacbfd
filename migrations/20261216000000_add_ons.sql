-- Add-ons and named licenses (README "Add-ons and named licenses"; issue 17 item 3).

-- An add-on (Togai's AddOn): what fixed fee, license and credit grant cards name as
-- addOnId. Its id is its name at creation; billable_name (else name) is what invoices
-- show for the lines of its cards. Archived add-ons stay (old plan versions name them).
CREATE TABLE add_ons (
    org_id        TEXT        NOT NULL,
    id            TEXT        NOT NULL,
    name          TEXT        NOT NULL,
    type          TEXT        NOT NULL,
    billable_name TEXT        NULL,
    status        TEXT        NOT NULL DEFAULT 'ACTIVE',
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NULL,
    CONSTRAINT add_ons_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT add_ons_org_fk FOREIGN KEY (org_id) REFERENCES organisations (id),
    CONSTRAINT add_ons_type_check CHECK (type IN ('LICENSE', 'FIXED_FEE', 'CREDIT_GRANT', 'NAMED_LICENSE')),
    CONSTRAINT add_ons_status_check CHECK (status IN ('ACTIVE', 'ARCHIVED'))
);

-- The named entities (e.g. user ids) of an account's NAMED_LICENSE license, each active
-- over [effective_from, effective_until) (open while effective_until is NULL). At most
-- one open row per account, license and entity. Each row's start and end are also
-- written as RELATIVE +1 / -1 license_updates, so the bill run rates named licenses
-- exactly as licenses.
CREATE TABLE named_license_entries (
    org_id          TEXT        NOT NULL,
    account_id      TEXT        NOT NULL,
    license_id      TEXT        NOT NULL,
    entity          TEXT        NOT NULL,
    effective_from  TIMESTAMPTZ NOT NULL,
    effective_until TIMESTAMPTZ NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- A demo reset deletes accounts before this table's turn in its purge list.
    CONSTRAINT named_license_entries_account_fk FOREIGN KEY (org_id, account_id)
        REFERENCES accounts (org_id, id) ON DELETE CASCADE,
    CONSTRAINT named_license_entries_range_check
        CHECK (effective_until IS NULL OR effective_until > effective_from)
);
CREATE UNIQUE INDEX named_license_entries_open
    ON named_license_entries (org_id, account_id, license_id, entity) WHERE effective_until IS NULL;
CREATE INDEX named_license_entries_by_account
    ON named_license_entries (org_id, account_id, license_id, entity, effective_from);
