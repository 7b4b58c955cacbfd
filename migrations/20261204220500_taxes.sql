-- Taxes (README "Taxes", issue 16 item 1): the organisation's tax rates, and the tax
-- id and treatment of customers and accounts (the account's overrides the
-- customer's; NULL: the customer's, else STANDARD). The seller's tax id is the
-- billing-details profile's existing `tax_id`. Invoices carry their taxes in their
-- `lines` JSON (old invoices have none: tax 0) and in the `tax` column below.
CREATE TABLE tax_rates (
    org_id      TEXT        NOT NULL,
    code        TEXT        NOT NULL CHECK (code ~ '^[A-Za-z0-9_-]{1,64}$'),
    name        TEXT        NOT NULL CHECK (btrim(name) <> ''),
    -- UNCL5305 duty/tax category, for e-invoices (EN 16931 BT-118).
    category    TEXT        NOT NULL
        CHECK (category IN ('S', 'AA', 'Z', 'E', 'AE', 'K', 'G', 'O', 'L', 'M')),
    -- Percent: 19 is 19 %.
    percentage  NUMERIC     NOT NULL CHECK (percentage >= 0 AND percentage <= 100),
    -- [valid_from, valid_until) in local dates; NULL: unbounded.
    valid_from  DATE        NULL,
    valid_until DATE        NULL,
    is_default  BOOLEAN     NOT NULL DEFAULT false,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT tax_rates_org_fk FOREIGN KEY (org_id) REFERENCES organisations (id),
    CONSTRAINT tax_rates_dates_check CHECK (valid_until IS NULL OR valid_from IS NULL OR valid_from < valid_until)
);
-- One row per code and start date (a rate change is a new row of the same code).
CREATE UNIQUE INDEX tax_rates_code_from_key
    ON tax_rates (org_id, code, coalesce(valid_from, '-infinity'::date));

ALTER TABLE customers
    ADD COLUMN tax_id TEXT NULL,
    ADD COLUMN tax_treatment TEXT NULL
        CHECK (tax_treatment IN ('STANDARD', 'EXEMPT', 'REVERSE_CHARGE', 'OUTSIDE_SCOPE'));
ALTER TABLE accounts
    ADD COLUMN tax_id TEXT NULL,
    ADD COLUMN tax_treatment TEXT NULL
        CHECK (tax_treatment IN ('STANDARD', 'EXEMPT', 'REVERSE_CHARGE', 'OUTSIDE_SCOPE'));
-- The invoice's tax (sum of its per-rate taxes), beside sub_total / true_up / credits.
ALTER TABLE invoices ADD COLUMN tax NUMERIC NOT NULL DEFAULT 0;
