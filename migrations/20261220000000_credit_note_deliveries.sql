-- Email delivery of credit notes (README "Credit notes"): the twin of
-- invoice_deliveries / invoice_delivery_attempts, one row per (credit note,
-- recipient), QUEUED until the transport accepts the message (SENT, with its message
-- id) or refuses it for good (FAILED); every attempt kept in the attempts table.
-- No foreign key to credit_notes: `billrun demo` purges tables in PURGED_TABLES order
-- (as credit_note_documents).
CREATE TABLE credit_note_deliveries (
    org_id          TEXT        NOT NULL,
    credit_note_id  TEXT        NOT NULL,
    recipient       TEXT        NOT NULL,
    status          TEXT        NOT NULL DEFAULT 'QUEUED'
                                CHECK (status IN ('QUEUED', 'SENT', 'FAILED')),
    attempts        INTEGER     NOT NULL DEFAULT 0,
    last_error      TEXT        NULL,
    message_id      TEXT        NULL,
    sent_at         TIMESTAMPTZ NULL,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT credit_note_deliveries_pkey PRIMARY KEY (org_id, credit_note_id, recipient)
);
CREATE INDEX credit_note_deliveries_status ON credit_note_deliveries (org_id, status);

CREATE TABLE credit_note_delivery_attempts (
    id              BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id          TEXT        NOT NULL,
    credit_note_id  TEXT        NOT NULL,
    recipient       TEXT        NOT NULL,
    outcome         TEXT        NOT NULL CHECK (outcome IN ('SENT', 'DEFERRED', 'FAILED')),
    message_id      TEXT        NULL,
    error           TEXT        NULL,
    resend          BOOLEAN     NOT NULL,
    at              TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX credit_note_delivery_attempts_delivery
    ON credit_note_delivery_attempts (org_id, credit_note_id, recipient, id);
