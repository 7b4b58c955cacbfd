-- Rendered invoice documents: the HTML and the PDF of each finalized invoice, with
-- the template and billing details they were rendered with (a finalized invoice keeps
-- them; only an explicit re-render replaces the document).
CREATE TABLE invoice_documents (
    org_id          TEXT        NOT NULL,
    invoice_id      TEXT        NOT NULL,
    template        TEXT        NOT NULL DEFAULT 'builtin',
    billing_details JSONB       NOT NULL,
    html            TEXT        NOT NULL,
    pdf             BYTEA       NOT NULL,
    rendered_at     TIMESTAMPTZ NOT NULL,
    CONSTRAINT invoice_documents_pkey PRIMARY KEY (org_id, invoice_id),
    CONSTRAINT invoice_documents_invoice_fk FOREIGN KEY (org_id, invoice_id) REFERENCES invoices (org_id, id)
);
