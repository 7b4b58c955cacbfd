-- The credit note's document (README "Credit notes"): its HTML, its Factur-X PDF
-- (type 381, BT-25 the invoice's number) and the XML inside it. Rendered after the
-- note commits, or on first request when that render did not happen (a crash): the
-- document is derived only from committed rows, so rendering it again gives the same
-- content.
-- No foreign key: `billrun demo` purges tables in PURGED_TABLES order.
CREATE TABLE credit_note_documents (
    org_id TEXT NOT NULL,
    credit_note_id TEXT NOT NULL,
    html TEXT NOT NULL,
    pdf BYTEA NOT NULL,
    xml BYTEA NOT NULL,
    rendered_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, credit_note_id)
);
