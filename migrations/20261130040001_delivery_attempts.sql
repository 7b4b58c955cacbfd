-- Every attempt to send a delivery (issue 11 item 10, issue 12 item 13): a resend or a
-- retry no longer overwrites what happened before. invoice_deliveries keeps the current
-- state of each (invoice, recipient); this table is its history, append-only.
CREATE TABLE invoice_delivery_attempts (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id      TEXT        NOT NULL,
    invoice_id  TEXT        NOT NULL,
    recipient   TEXT        NOT NULL,
    outcome     TEXT        NOT NULL CHECK (outcome IN ('SENT', 'DEFERRED', 'FAILED')),
    message_id  TEXT        NULL,
    error       TEXT        NULL,
    resend      BOOLEAN     NOT NULL,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT invoice_delivery_attempts_delivery_fk FOREIGN KEY (org_id, invoice_id, recipient)
        REFERENCES invoice_deliveries (org_id, invoice_id, recipient)
);
CREATE INDEX invoice_delivery_attempts_delivery
    ON invoice_delivery_attempts (org_id, invoice_id, recipient, id);
