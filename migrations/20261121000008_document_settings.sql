-- Settings that feed invoice documents: the organisation's logo, billing-details
-- profiles, invoice templates (versioned) and which template an account uses.
--
-- What a rendered document used must stay readable as it was: logos and template
-- versions are immutable rows (a trigger refuses any UPDATE; a row a document
-- refers to cannot be deleted), and the billing details are copied into the
-- document (`invoice_documents.billing_details`), so editing a profile or a
-- template afterwards never changes a DUE invoice, even when it is re-rendered.

-- Every logo an organisation uploaded; the current one is named by
-- `document_settings.logo_version`. Checked by billrun_render::Logo::from_bytes
-- before it is stored (PNG or JPEG, at most 1 MiB, 16..2000 px a side).
CREATE TABLE organisation_logos (
    org_id      TEXT        NOT NULL,
    version     INTEGER     NOT NULL,
    file_name   TEXT        NOT NULL,
    format      TEXT        NOT NULL CHECK (format IN ('png', 'jpeg')),
    width       INTEGER     NOT NULL CHECK (width BETWEEN 16 AND 2000),
    height      INTEGER     NOT NULL CHECK (height BETWEEN 16 AND 2000),
    bytes       BYTEA       NOT NULL CHECK (octet_length(bytes) BETWEEN 1 AND 1048576),
    uploaded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT organisation_logos_pkey PRIMARY KEY (org_id, version),
    CONSTRAINT organisation_logos_org_fk FOREIGN KEY (org_id) REFERENCES organisations (id)
);

-- Billing-details profiles: who the invoice says it is from. Field names are
-- billrun_render::BillingDetails's; `address` is the same camelCase JSON shape as
-- customers' and accounts' addresses (line1, line2, postalCode, city, state, country).
CREATE TABLE billing_details_profiles (
    org_id               TEXT        NOT NULL,
    id                   TEXT        NOT NULL,
    legal_name           TEXT        NOT NULL CHECK (btrim(legal_name) <> ''),
    address              JSONB       NULL,
    tax_id               TEXT        NULL,
    email                TEXT        NULL,
    phone                TEXT        NULL,
    payment_instructions TEXT[]      NOT NULL DEFAULT '{}',
    footer_note          TEXT        NULL,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT billing_details_profiles_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT billing_details_profiles_org_fk FOREIGN KEY (org_id) REFERENCES organisations (id)
);

-- An organisation's own invoice templates. `builtin` is reserved for the built-in
-- template (templates/invoice.html.tera, part of the binary), which has no row here.
-- Each template uses one billing-details profile (changeable; documents keep a copy).
CREATE TABLE invoice_templates (
    org_id          TEXT        NOT NULL,
    id              TEXT        NOT NULL CHECK (id <> 'builtin' AND id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$'),
    billing_details TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT invoice_templates_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT invoice_templates_org_fk FOREIGN KEY (org_id) REFERENCES organisations (id),
    CONSTRAINT invoice_templates_billing_details_fk FOREIGN KEY (org_id, billing_details)
        REFERENCES billing_details_profiles (org_id, id)
);

-- A template's text, one row per upload (1, 2, ...); the highest version is the
-- current one. Checked with billrun_render::Template::parse before it is stored.
CREATE TABLE invoice_template_versions (
    org_id      TEXT        NOT NULL,
    template_id TEXT        NOT NULL,
    version     INTEGER     NOT NULL CHECK (version >= 1),
    body        TEXT        NOT NULL,
    file_name   TEXT        NOT NULL,
    sha256      TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT invoice_template_versions_pkey PRIMARY KEY (org_id, template_id, version),
    CONSTRAINT invoice_template_versions_template_fk FOREIGN KEY (org_id, template_id)
        REFERENCES invoice_templates (org_id, id)
);

-- Immutable once written: what a document was rendered with never changes.
CREATE FUNCTION refuse_update_of_immutable_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are immutable: add a new version instead', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER organisation_logos_immutable BEFORE UPDATE ON organisation_logos
    FOR EACH ROW EXECUTE FUNCTION refuse_update_of_immutable_row();
CREATE TRIGGER invoice_template_versions_immutable BEFORE UPDATE ON invoice_template_versions
    FOR EACH ROW EXECUTE FUNCTION refuse_update_of_immutable_row();

-- Per organisation: the current logo (NULL: none), the default template (NULL: the
-- built-in one) and the profile the built-in template uses (NULL: the
-- organisation's name and billing email).
CREATE TABLE document_settings (
    org_id                  TEXT        NOT NULL,
    logo_version            INTEGER     NULL,
    default_template        TEXT        NULL,
    builtin_billing_details TEXT        NULL,
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT document_settings_pkey PRIMARY KEY (org_id),
    CONSTRAINT document_settings_org_fk FOREIGN KEY (org_id) REFERENCES organisations (id),
    CONSTRAINT document_settings_logo_fk FOREIGN KEY (org_id, logo_version)
        REFERENCES organisation_logos (org_id, version),
    CONSTRAINT document_settings_template_fk FOREIGN KEY (org_id, default_template)
        REFERENCES invoice_templates (org_id, id),
    CONSTRAINT document_settings_billing_details_fk FOREIGN KEY (org_id, builtin_billing_details)
        REFERENCES billing_details_profiles (org_id, id)
);

-- An account's own template. No row: the organisation's default. A row with a NULL
-- template: the built-in one, whatever the organisation's default is.
CREATE TABLE account_invoice_templates (
    org_id      TEXT        NOT NULL,
    account_id  TEXT        NOT NULL,
    template_id TEXT        NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT account_invoice_templates_pkey PRIMARY KEY (org_id, account_id),
    CONSTRAINT account_invoice_templates_account_fk FOREIGN KEY (org_id, account_id)
        REFERENCES accounts (org_id, id),
    CONSTRAINT account_invoice_templates_template_fk FOREIGN KEY (org_id, template_id)
        REFERENCES invoice_templates (org_id, id)
);

-- What each document was rendered with: the template (`builtin`, or an
-- organisation template and its version), the profile the billing details were
-- copied from (informational: the copy is `billing_details`), and the logo.
ALTER TABLE invoice_documents
    ADD COLUMN template_version INTEGER NULL,
    ADD COLUMN billing_details_profile TEXT NULL,
    ADD COLUMN logo_version INTEGER NULL,
    ADD CONSTRAINT invoice_documents_template_version_check
        CHECK ((template = 'builtin') = (template_version IS NULL)),
    ADD CONSTRAINT invoice_documents_template_fk FOREIGN KEY (org_id, template, template_version)
        REFERENCES invoice_template_versions (org_id, template_id, version),
    ADD CONSTRAINT invoice_documents_logo_fk FOREIGN KEY (org_id, logo_version)
        REFERENCES organisation_logos (org_id, version);
