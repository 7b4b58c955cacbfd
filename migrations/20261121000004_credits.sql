-- Credits: grants to accounts and the ledger of their movements.
--
-- A grant's balance is derived from its ledger: granted - consumed - expired - voided.
-- Consumers lock the grant rows (FOR UPDATE) before reading balances, so two
-- finalizations of one account never spend the same credit; the unique indexes and
-- the balance trigger below refuse, at the database, anything that would slip past.

CREATE TABLE credit_grants (
    org_id                TEXT        NOT NULL,
    id                    TEXT        NOT NULL,
    account_id            TEXT        NOT NULL,
    currency              TEXT        NOT NULL,
    amount                NUMERIC     NOT NULL,
    purpose               TEXT        NOT NULL DEFAULT '',
    priority              INTEGER     NOT NULL DEFAULT 1,
    effective_from        TIMESTAMPTZ NOT NULL,
    effective_until       TIMESTAMPTZ NULL,
    -- Togai's applicableEntityIds: empty = every line; ALL_USAGE_METER_RATE_CARDS,
    -- ALL_FIXED_FEE_RATE_CARDS, or rate card names.
    applicable_entity_ids TEXT[]      NOT NULL DEFAULT '{}',
    status                TEXT        NOT NULL DEFAULT 'ACTIVE',
    idempotency_key       TEXT        NOT NULL,
    -- Set for grants sold by a CREDIT_GRANT rate card on an invoice.
    source_invoice_id     TEXT        NULL,
    source_card           TEXT        NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    CONSTRAINT credit_grants_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT credit_grants_key_unique UNIQUE (org_id, idempotency_key),
    CONSTRAINT credit_grants_account_fk FOREIGN KEY (org_id, account_id) REFERENCES accounts (org_id, id),
    CONSTRAINT credit_grants_amount_positive CHECK (amount > 0),
    CONSTRAINT credit_grants_priority_check CHECK (priority >= 0),
    CONSTRAINT credit_grants_range_check CHECK (effective_until IS NULL OR effective_until > effective_from),
    CONSTRAINT credit_grants_status_check CHECK (status IN ('ACTIVE', 'CONSUMED', 'EXPIRED', 'VOIDED'))
);
CREATE INDEX credit_grants_active ON credit_grants (org_id, account_id) WHERE status = 'ACTIVE';
CREATE INDEX credit_grants_expiring ON credit_grants (effective_until) WHERE status = 'ACTIVE';

CREATE TABLE credit_transactions (
    org_id     TEXT        NOT NULL,
    id         BIGSERIAL   NOT NULL,
    grant_id   TEXT        NOT NULL,
    kind       TEXT        NOT NULL,
    amount     NUMERIC     NOT NULL,
    invoice_id TEXT        NULL,
    at         TIMESTAMPTZ NOT NULL,
    CONSTRAINT credit_transactions_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT credit_transactions_grant_fk FOREIGN KEY (org_id, grant_id) REFERENCES credit_grants (org_id, id),
    CONSTRAINT credit_transactions_kind_check CHECK (kind IN ('GRANTED', 'CONSUMED', 'EXPIRED', 'VOIDED')),
    CONSTRAINT credit_transactions_amount_positive CHECK (amount > 0),
    CONSTRAINT credit_transactions_invoice_iff_consumed CHECK ((kind = 'CONSUMED') = (invoice_id IS NOT NULL))
);
-- Granted, expired and voided at most once; consumed at most once per invoice.
CREATE UNIQUE INDEX credit_transactions_once
    ON credit_transactions (org_id, grant_id, kind) WHERE kind IN ('GRANTED', 'EXPIRED', 'VOIDED');
CREATE UNIQUE INDEX credit_transactions_consumed_once
    ON credit_transactions (org_id, grant_id, invoice_id) WHERE kind = 'CONSUMED';
CREATE INDEX credit_transactions_by_invoice ON credit_transactions (org_id, invoice_id);

-- No movement may take a grant below zero (a bug elsewhere must fail, not overspend).
CREATE FUNCTION credit_transactions_balance_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    balance NUMERIC;
BEGIN
    SELECT coalesce(sum(CASE WHEN kind = 'GRANTED' THEN amount ELSE -amount END), 0)
      INTO balance
      FROM credit_transactions WHERE org_id = NEW.org_id AND grant_id = NEW.grant_id;
    IF balance < 0 THEN
        RAISE EXCEPTION 'credit grant % would have a negative balance (%)', NEW.grant_id, balance
            USING ERRCODE = 'check_violation', CONSTRAINT = 'credit_balance_not_negative';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER credit_transactions_balance_check
    AFTER INSERT ON credit_transactions
    FOR EACH ROW EXECUTE FUNCTION credit_transactions_balance_check();
