-- The bill run: account cycles, invoices, and invoice number sequences.
--
-- An invoice belongs to a cycle *boundary* of an account's plan association: it
-- holds the in-arrears charges of the cycle that closes there and the in-advance
-- charges of the cycle that opens there (the association's first invoice has only
-- the latter). The unique index on (account, association, boundary) is what makes a
-- retried or doubled bill run unable to bill anyone twice.

CREATE TABLE billing_cycles (
    org_id           TEXT        NOT NULL,
    account_id       TEXT        NOT NULL,
    association_from DATE        NOT NULL,
    cycle_index      INTEGER     NOT NULL CHECK (cycle_index >= 0),
    full_start       DATE        NOT NULL,
    full_end         DATE        NOT NULL,
    billed_start     DATE        NOT NULL,
    billed_end       DATE        NOT NULL,
    -- The billed days as instants, in the account's timezone at the time the cycle
    -- was opened: usage in [starts_at, ends_at) belongs to this cycle.
    starts_at        TIMESTAMPTZ NOT NULL,
    ends_at          TIMESTAMPTZ NOT NULL,
    status           TEXT        NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'CLOSED')),
    closed_at        TIMESTAMPTZ,
    PRIMARY KEY (org_id, account_id, association_from, cycle_index),
    FOREIGN KEY (org_id, account_id, association_from)
        REFERENCES plan_associations (org_id, account_id, effective_from),
    CHECK (billed_start < billed_end AND starts_at < ends_at)
);
-- cycle-close's scan: open cycles whose end has passed.
CREATE INDEX billing_cycles_due ON billing_cycles (ends_at) WHERE status = 'OPEN';
CREATE INDEX billing_cycles_account_time ON billing_cycles (org_id, account_id, starts_at);

CREATE TABLE invoices (
    org_id            TEXT        NOT NULL,
    id                TEXT        NOT NULL,
    account_id        TEXT        NOT NULL,
    association_from  DATE        NOT NULL,
    boundary          DATE        NOT NULL,
    plan_id           TEXT        NOT NULL,
    plan_version      INTEGER     NOT NULL,
    kind              TEXT        NOT NULL DEFAULT 'STANDARD',
    status            TEXT        NOT NULL DEFAULT 'DRAFT'
                      CHECK (status IN ('DRAFT', 'DUE', 'PAID', 'VOID')),
    currency          TEXT        NOT NULL,
    -- The closing cycle (in-arrears part), if any: local dates and instants.
    closing_index     INTEGER,
    closing_start     DATE,
    closing_end       DATE,
    closing_starts_at TIMESTAMPTZ,
    closing_ends_at   TIMESTAMPTZ,
    -- The opening cycle (in-advance part), if any.
    opening_index     INTEGER,
    opening_start     DATE,
    opening_end       DATE,
    sub_total         NUMERIC     NOT NULL,
    true_up           NUMERIC     NOT NULL DEFAULT 0,
    credits           NUMERIC     NOT NULL DEFAULT 0,
    total             NUMERIC     NOT NULL,
    lines             JSONB       NOT NULL,
    -- A draft is recomputed while usage for its closing cycle may still arrive, and
    -- finalized from this instant on.
    grace_ends_at     TIMESTAMPTZ NOT NULL,
    stale             BOOLEAN     NOT NULL DEFAULT false,
    number            TEXT,
    invoice_date      DATE,
    due_date          DATE,
    net_term_days     INTEGER,
    computed_at       TIMESTAMPTZ NOT NULL,
    finalized_at      TIMESTAMPTZ,
    paid_at           TIMESTAMPTZ,
    voided_at         TIMESTAMPTZ,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, account_id) REFERENCES accounts (org_id, id),
    CONSTRAINT invoices_one_per_account_cycle UNIQUE (org_id, account_id, association_from, boundary),
    CONSTRAINT invoices_number_unique UNIQUE (org_id, number),
    -- Drafts have no number; everything finalized has one, with its dates.
    CONSTRAINT invoices_number_iff_finalized CHECK (
        (status = 'DRAFT') = (number IS NULL)
        AND (status = 'DRAFT' OR (invoice_date IS NOT NULL AND due_date IS NOT NULL))
    ),
    CONSTRAINT invoices_total_not_negative CHECK (total >= 0)
);
CREATE INDEX invoices_finalizable ON invoices (grace_ends_at) WHERE status = 'DRAFT';
CREATE INDEX invoices_account ON invoices (org_id, account_id, boundary);

-- One gapless counter per organisation and reset period of its number format
-- (sequence_key '' for a format that never resets, '2026' for {YYYY}, ...).
CREATE TABLE invoice_number_sequences (
    org_id       TEXT   NOT NULL REFERENCES organisations (id),
    sequence_key TEXT   NOT NULL,
    last_value   BIGINT NOT NULL CHECK (last_value >= 0),
    PRIMARY KEY (org_id, sequence_key)
);
