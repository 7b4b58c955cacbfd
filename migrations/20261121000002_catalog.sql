-- billrun catalog: the reference data a bill run reads.
--
-- Organisations and their settings, customers, accounts and the aliases that route
-- usage to them, event schemas and usage meters, usage events, license updates,
-- versioned price plans, and which plan version each account is on when.
--
-- Every row belongs to an organisation and every foreign key includes org_id, so a
-- row of one tenant can never point at a row of another, even by mistake in code.
-- Constraints are named: src/catalog/mod.rs turns their violations into messages by
-- name.

-- Exclusion constraints on (org_id, text key, range) need btree operators in GiST.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE organisations (
    id                    TEXT        NOT NULL,
    name                  TEXT        NOT NULL,
    -- IANA name, validated with chrono-tz when written.
    timezone              TEXT        NOT NULL DEFAULT 'UTC',
    base_currency         TEXT        NOT NULL,
    -- ISO 4217 codes an account may invoice in; always includes the base currency.
    enabled_currencies    TEXT[]      NOT NULL,
    net_term_days         INTEGER     NOT NULL DEFAULT 30,
    -- Validated with billrun_core::numbering::NumberFormat when written.
    invoice_number_format TEXT        NOT NULL DEFAULT 'INV-{YYYY}-{SEQ:6}',
    rounding_mode         TEXT        NOT NULL DEFAULT 'HALF_AWAY_FROM_ZERO',
    billing_email         TEXT        NULL,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT organisations_pkey PRIMARY KEY (id),
    CONSTRAINT organisations_net_term_days_check CHECK (net_term_days >= 0),
    CONSTRAINT organisations_base_currency_enabled CHECK (base_currency = ANY (enabled_currencies)),
    CONSTRAINT organisations_rounding_mode_check
        CHECK (rounding_mode IN ('HALF_AWAY_FROM_ZERO', 'HALF_EVEN', 'UP', 'DOWN'))
);

CREATE TABLE customers (
    org_id        TEXT        NOT NULL,
    id            TEXT        NOT NULL,
    name          TEXT        NOT NULL,
    primary_email TEXT        NULL,
    -- Togai's {line1, line2, postalCode, city, state, country}.
    address       JSONB       NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT customers_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT customers_org_fk FOREIGN KEY (org_id) REFERENCES organisations (id)
);

CREATE TABLE accounts (
    org_id            TEXT        NOT NULL,
    id                TEXT        NOT NULL,
    customer_id       TEXT        NOT NULL,
    name              TEXT        NOT NULL,
    -- One of the organisation's enabled currencies (checked when written).
    invoice_currency  TEXT        NOT NULL,
    -- Overrides of the organisation's settings; NULL means "the organisation's".
    timezone          TEXT        NULL,
    net_term_days     INTEGER     NULL,
    primary_email     TEXT        NULL,
    billing_emails    TEXT[]      NOT NULL DEFAULT '{}',
    additional_emails TEXT[]      NOT NULL DEFAULT '{}',
    address           JSONB       NULL,
    status            TEXT        NOT NULL DEFAULT 'ACTIVE',
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT accounts_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT accounts_customer_fk FOREIGN KEY (org_id, customer_id) REFERENCES customers (org_id, id),
    CONSTRAINT accounts_net_term_days_check CHECK (net_term_days IS NULL OR net_term_days >= 0),
    CONSTRAINT accounts_status_check CHECK (status IN ('ACTIVE', 'ARCHIVED'))
);
CREATE INDEX accounts_by_customer ON accounts (org_id, customer_id);

-- An alias routes usage to an account over [effective_from, effective_until).
-- Moving an alias closes its open range and opens a new one on the other account;
-- the exclusion constraint guarantees that at any instant an alias means one account.
CREATE TABLE aliases (
    org_id          TEXT        NOT NULL,
    alias           TEXT        NOT NULL,
    account_id      TEXT        NOT NULL,
    effective_from  TIMESTAMPTZ NOT NULL,
    effective_until TIMESTAMPTZ NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT aliases_pkey PRIMARY KEY (org_id, alias, effective_from),
    CONSTRAINT aliases_account_fk FOREIGN KEY (org_id, account_id) REFERENCES accounts (org_id, id),
    CONSTRAINT aliases_range_check CHECK (effective_until IS NULL OR effective_until > effective_from),
    CONSTRAINT aliases_no_overlap EXCLUDE USING gist (
        org_id WITH =, alias WITH =, tstzrange(effective_from, effective_until) WITH &&
    )
);
CREATE INDEX aliases_by_account ON aliases (org_id, account_id);

CREATE TABLE event_schemas (
    org_id     TEXT        NOT NULL,
    name       TEXT        NOT NULL,
    -- Numeric attributes (what a SUM meter adds up) and string dimensions (what
    -- meters filter on).
    attributes TEXT[]      NOT NULL DEFAULT '{}',
    dimensions TEXT[]      NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT event_schemas_pkey PRIMARY KEY (org_id, name),
    CONSTRAINT event_schemas_org_fk FOREIGN KEY (org_id) REFERENCES organisations (id)
);

CREATE TABLE usage_meters (
    org_id       TEXT        NOT NULL,
    id           TEXT        NOT NULL,
    name         TEXT        NOT NULL,
    event_schema TEXT        NOT NULL,
    aggregation  TEXT        NOT NULL,
    attribute    TEXT        NULL,
    -- dimension name -> the value an event must have to count.
    filters      JSONB       NOT NULL DEFAULT '{}',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT usage_meters_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT usage_meters_schema_fk FOREIGN KEY (org_id, event_schema) REFERENCES event_schemas (org_id, name),
    CONSTRAINT usage_meters_aggregation_check CHECK (aggregation IN ('COUNT', 'SUM')),
    CONSTRAINT usage_meters_sum_attribute_check CHECK (aggregation <> 'SUM' OR attribute IS NOT NULL)
);

-- Usage as ingested. account_id is resolved at ingest (aliases by their range at the
-- event's timestamp), so a later alias move never re-routes recorded usage.
-- Attribute values are stored as decimal strings (exact); `(attributes->>'x')::numeric`
-- reads them. The same id twice is one event (ON CONFLICT DO NOTHING).
CREATE TABLE usage_events (
    org_id      TEXT        NOT NULL,
    id          TEXT        NOT NULL,
    account_id  TEXT        NOT NULL,
    schema_name TEXT        NOT NULL,
    ts          TIMESTAMPTZ NOT NULL,
    attributes  JSONB       NOT NULL,
    dimensions  JSONB       NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set by the bill run for usage dated in a cycle already closed.
    late        BOOLEAN     NOT NULL DEFAULT false,
    CONSTRAINT usage_events_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT usage_events_account_fk FOREIGN KEY (org_id, account_id) REFERENCES accounts (org_id, id),
    CONSTRAINT usage_events_schema_fk FOREIGN KEY (org_id, schema_name) REFERENCES event_schemas (org_id, name)
);
CREATE INDEX usage_events_by_account_ts ON usage_events (org_id, account_id, ts);

CREATE TABLE license_updates (
    org_id          TEXT        NOT NULL,
    idempotency_key TEXT        NOT NULL,
    license_id      TEXT        NOT NULL,
    account_id      TEXT        NOT NULL,
    update_type     TEXT        NOT NULL,
    quantity        NUMERIC     NOT NULL,
    effective_from  TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT license_updates_pkey PRIMARY KEY (org_id, idempotency_key),
    CONSTRAINT license_updates_account_fk FOREIGN KEY (org_id, account_id) REFERENCES accounts (org_id, id),
    CONSTRAINT license_updates_type_check CHECK (update_type IN ('RELATIVE', 'ABSOLUTE')),
    CONSTRAINT license_updates_absolute_check CHECK (update_type = 'RELATIVE' OR quantity >= 0)
);
CREATE INDEX license_updates_by_account
    ON license_updates (org_id, account_id, license_id, effective_from);

-- A plan is its name; what it charges lives in its versions.
CREATE TABLE price_plans (
    org_id     TEXT        NOT NULL,
    id         TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT price_plans_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT price_plans_org_fk FOREIGN KEY (org_id) REFERENCES organisations (id)
);

CREATE TABLE price_plan_versions (
    org_id       TEXT        NOT NULL,
    plan_id      TEXT        NOT NULL,
    version      INTEGER     NOT NULL,
    status       TEXT        NOT NULL DEFAULT 'DRAFT',
    -- The canonical Togai JSON: Plan::from_json(..)?.to_json().
    definition   JSONB       NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    finalized_at TIMESTAMPTZ NULL,
    CONSTRAINT price_plan_versions_pkey PRIMARY KEY (org_id, plan_id, version),
    CONSTRAINT price_plan_versions_plan_fk FOREIGN KEY (org_id, plan_id) REFERENCES price_plans (org_id, id),
    CONSTRAINT price_plan_versions_version_check CHECK (version >= 1),
    CONSTRAINT price_plan_versions_status_check CHECK (status IN ('DRAFT', 'ACTIVE', 'ARCHIVED')),
    CONSTRAINT price_plan_versions_finalized_check CHECK ((status = 'DRAFT') = (finalized_at IS NULL))
);
-- At most one draft per plan: applying a plan file edits it rather than forking.
CREATE UNIQUE INDEX price_plan_versions_one_draft
    ON price_plan_versions (org_id, plan_id) WHERE status = 'DRAFT';

-- A finalized version is what invoices were computed from: its definition must never
-- change, whatever code runs against the database. Status may only move forward.
CREATE FUNCTION price_plan_versions_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'DRAFT' AND NEW.definition IS DISTINCT FROM OLD.definition THEN
        RAISE EXCEPTION 'price plan % version % is %: its definition cannot change',
            OLD.plan_id, OLD.version, OLD.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'price_plan_versions_immutable';
    END IF;
    IF (OLD.status = 'ACTIVE' AND NEW.status = 'DRAFT')
        OR (OLD.status = 'ARCHIVED' AND NEW.status <> 'ARCHIVED') THEN
        RAISE EXCEPTION 'price plan % version % cannot go from % back to %',
            OLD.plan_id, OLD.version, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'price_plan_versions_immutable';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER price_plan_versions_immutable
    BEFORE UPDATE ON price_plan_versions
    FOR EACH ROW EXECUTE FUNCTION price_plan_versions_immutable();

-- Which plan version an account is billed on, over local dates [effective_from,
-- effective_until) in the account's timezone. Only ACTIVE versions are attached
-- (checked when written); an account's periods never overlap.
CREATE TABLE plan_associations (
    org_id          TEXT        NOT NULL,
    account_id      TEXT        NOT NULL,
    plan_id         TEXT        NOT NULL,
    plan_version    INTEGER     NOT NULL,
    effective_from  DATE        NOT NULL,
    effective_until DATE        NULL,
    -- Kept verbatim; interpreted by the bill run.
    overrides       JSONB       NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT plan_associations_pkey PRIMARY KEY (org_id, account_id, effective_from),
    CONSTRAINT plan_associations_account_fk FOREIGN KEY (org_id, account_id) REFERENCES accounts (org_id, id),
    CONSTRAINT plan_associations_version_fk FOREIGN KEY (org_id, plan_id, plan_version)
        REFERENCES price_plan_versions (org_id, plan_id, version),
    CONSTRAINT plan_associations_range_check
        CHECK (effective_until IS NULL OR effective_until > effective_from),
    CONSTRAINT plan_associations_no_overlap EXCLUDE USING gist (
        org_id WITH =, account_id WITH =, daterange(effective_from, effective_until) WITH &&
    )
);
CREATE INDEX plan_associations_by_plan ON plan_associations (org_id, plan_id, plan_version);
