-- Email delivery of invoices: one row per (invoice, recipient). A row is QUEUED until
-- its message is accepted by the transport (SENT, with the message id) or refused for
-- good (FAILED). Transient failures keep it QUEUED with the attempt count and error.
CREATE TABLE invoice_deliveries (
    org_id      TEXT        NOT NULL,
    invoice_id  TEXT        NOT NULL,
    recipient   TEXT        NOT NULL,
    status      TEXT        NOT NULL DEFAULT 'QUEUED'
                            CHECK (status IN ('QUEUED', 'SENT', 'FAILED')),
    attempts    INTEGER     NOT NULL DEFAULT 0,
    last_error  TEXT        NULL,
    message_id  TEXT        NULL,
    sent_at     TIMESTAMPTZ NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT invoice_deliveries_pkey PRIMARY KEY (org_id, invoice_id, recipient),
    CONSTRAINT invoice_deliveries_invoice_fk FOREIGN KEY (org_id, invoice_id) REFERENCES invoices (org_id, id)
);
CREATE INDEX invoice_deliveries_status ON invoice_deliveries (org_id, status);
