-- Issuing a credit note is idempotent on retry (README "Credit notes"): the key the
-- caller gave (`--idempotency-key`, `idempotencyKey`) and the request it came with
-- (the invoice's id, what to credit, reason, method, description), so the same key
-- again answers the same note and the key with another request is refused.
ALTER TABLE credit_notes
    ADD COLUMN idempotency_key TEXT NULL,
    ADD COLUMN request JSONB NULL;
CREATE UNIQUE INDEX credit_notes_idempotency_key
    ON credit_notes (org_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
