-- Features and the entitlement ledger (README "Entitlements"; issue 17 items 1 and 2).

-- A feature: what BILLING_ENTITLEMENT and ENTITLEMENT_OVERAGE cards name as featureId.
-- Its use is the sum of one attribute of each associated event schema's events.
CREATE TABLE features (
    org_id              TEXT        NOT NULL,
    id                  TEXT        NOT NULL,
    name                TEXT        NOT NULL,
    billable_name       TEXT        NULL,
    -- Togai's schemaAssociations: [{"schemaName", "attributeName"}], at most 50.
    schema_associations JSONB       NOT NULL DEFAULT '[]',
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NULL,
    CONSTRAINT features_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT features_org_fk FOREIGN KEY (org_id) REFERENCES organisations (id)
);

-- Allowances granted by PREPAID entitlement cards once their invoice is paid: one row
-- per invoice and card, valid over [effective_from, effective_until) (the cycle the
-- line covers). IN_ADVANCE and IN_ARREARS allowances come from the plan itself.
CREATE TABLE entitlement_grants (
    org_id            TEXT        NOT NULL,
    id                TEXT        NOT NULL,
    account_id        TEXT        NOT NULL,
    feature_id        TEXT        NOT NULL,
    quantity          NUMERIC     NOT NULL,
    effective_from    TIMESTAMPTZ NOT NULL,
    effective_until   TIMESTAMPTZ NOT NULL,
    source_invoice_id TEXT        NOT NULL,
    source_card       TEXT        NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    CONSTRAINT entitlement_grants_pkey PRIMARY KEY (org_id, id),
    -- Paying twice, or running the invoice-paid job twice, grants once.
    CONSTRAINT entitlement_grants_source_unique UNIQUE (org_id, source_invoice_id, source_card),
    CONSTRAINT entitlement_grants_account_fk FOREIGN KEY (org_id, account_id) REFERENCES accounts (org_id, id),
    CONSTRAINT entitlement_grants_quantity_check CHECK (quantity >= 0),
    CONSTRAINT entitlement_grants_range_check CHECK (effective_until > effective_from)
);
CREATE INDEX entitlement_grants_account ON entitlement_grants (org_id, account_id, feature_id, effective_from);
