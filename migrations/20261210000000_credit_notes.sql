-- Credit notes (README "Credit notes", issue 16 item 2): partial or whole corrections
-- of finalized invoices, with their own gapless numbers per organisation.

-- The organisation's credit-note number format (the invoice format's syntax,
-- validated with billrun_core::numbering::NumberFormat when written), and whether a
-- void issues a credit note for what was left of the invoice.
ALTER TABLE organisations
    ADD COLUMN credit_note_number_format TEXT NOT NULL DEFAULT 'CN-{YYYY}-{SEQ:4}',
    ADD COLUMN void_issues_credit_note BOOLEAN NOT NULL DEFAULT false;

-- What credit notes took off the invoice's balance due: amount due = total - credited.
ALTER TABLE invoices ADD COLUMN credited NUMERIC NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD CONSTRAINT invoices_credited_within_total
    CHECK (credited >= 0 AND credited <= total);

-- One gapless counter per organisation and reset period of its credit-note format
-- (the invoice counters' twin: invoice_number_sequences).
CREATE TABLE credit_note_number_sequences (
    org_id       TEXT   NOT NULL REFERENCES organisations (id),
    sequence_key TEXT   NOT NULL,
    last_value   BIGINT NOT NULL CHECK (last_value >= 0),
    PRIMARY KEY (org_id, sequence_key)
);

CREATE TABLE credit_notes (
    org_id          TEXT        NOT NULL,
    id              TEXT        NOT NULL,
    number          TEXT        NOT NULL,
    invoice_id      TEXT        NOT NULL,
    account_id      TEXT        NOT NULL,
    currency        TEXT        NOT NULL,
    reason          TEXT        NOT NULL CHECK (reason IN ('DUPLICATED_CHARGE', 'PRODUCT_UNSATISFACTORY',
                        'ORDER_CHANGE', 'ORDER_CANCELLATION', 'FRAUDULENT_CHARGE', 'OTHER')),
    description     TEXT        NOT NULL DEFAULT '',
    method          TEXT        NOT NULL CHECK (method IN ('CREDIT', 'REFUND')),
    -- Issued by a void (the organisation's void_issues_credit_note).
    from_void       BOOLEAN     NOT NULL DEFAULT false,
    -- Local date in the account's timezone (its own, else the organisation's).
    issue_date      DATE        NOT NULL,
    net             NUMERIC     NOT NULL,
    tax             NUMERIC     NOT NULL,
    total           NUMERIC     NOT NULL,
    -- How the total was settled: off the balance due, as credits, as a refund.
    balance_amount  NUMERIC     NOT NULL,
    credit_amount   NUMERIC     NOT NULL,
    refund_amount   NUMERIC     NOT NULL,
    credit_grant_id TEXT        NULL,
    -- billrun_core::credit_note::NoteAmounts (lines, taxes per rate, totals).
    lines           JSONB       NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT credit_notes_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT credit_notes_number_unique UNIQUE (org_id, number),
    CONSTRAINT credit_notes_invoice_fk FOREIGN KEY (org_id, invoice_id) REFERENCES invoices (org_id, id),
    CONSTRAINT credit_notes_grant_fk FOREIGN KEY (org_id, credit_grant_id) REFERENCES credit_grants (org_id, id),
    CONSTRAINT credit_notes_adds_up CHECK (
        total = net + tax AND total > 0 AND total = balance_amount + credit_amount + refund_amount
        AND balance_amount >= 0 AND credit_amount >= 0 AND refund_amount >= 0)
);
CREATE INDEX credit_notes_invoice ON credit_notes (org_id, invoice_id);
