-- Voiding an invoice undoes the credit movements it caused (README "Credits", "What a
-- void does"):
-- - RESTORED: credits the invoice consumed, given back to their grant (invoice_id = the
--   voided invoice); at most once per grant and invoice.
-- - EXPIRED / VOIDED may now name the voided invoice that caused them: credits given
--   back to a grant that has expired or been voided since are expired / voided again at
--   once, and the unused part of a grant the invoice sold is VOIDED. Without an invoice
--   they stay at most once per grant (the expiry job, `billrun credit void`).
--
-- (The version is 2026-11-30 + "03" for engineer c + a serial: sqlx versions must be
-- integers, and 14 digits keep it after the existing migrations.)

ALTER TABLE credit_transactions
    DROP CONSTRAINT credit_transactions_kind_check,
    DROP CONSTRAINT credit_transactions_invoice_iff_consumed;
ALTER TABLE credit_transactions
    ADD CONSTRAINT credit_transactions_kind_check
        CHECK (kind IN ('GRANTED', 'CONSUMED', 'RESTORED', 'EXPIRED', 'VOIDED')),
    -- CONSUMED and RESTORED name their invoice; GRANTED never does; EXPIRED and VOIDED
    -- do when an invoice's void caused them.
    ADD CONSTRAINT credit_transactions_invoice_check CHECK (
        (kind IN ('CONSUMED', 'RESTORED') AND invoice_id IS NOT NULL)
        OR (kind = 'GRANTED' AND invoice_id IS NULL)
        OR kind IN ('EXPIRED', 'VOIDED'));

DROP INDEX credit_transactions_once;
CREATE UNIQUE INDEX credit_transactions_once
    ON credit_transactions (org_id, grant_id, kind)
    WHERE kind = 'GRANTED' OR (kind IN ('EXPIRED', 'VOIDED') AND invoice_id IS NULL);
CREATE UNIQUE INDEX credit_transactions_void_once
    ON credit_transactions (org_id, grant_id, kind, invoice_id)
    WHERE kind IN ('RESTORED', 'EXPIRED', 'VOIDED') AND invoice_id IS NOT NULL;

-- RESTORED adds to a balance, like GRANTED.
CREATE OR REPLACE FUNCTION credit_transactions_balance_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    balance NUMERIC;
BEGIN
    SELECT coalesce(sum(CASE WHEN kind IN ('GRANTED', 'RESTORED') THEN amount ELSE -amount END), 0)
      INTO balance
      FROM credit_transactions WHERE org_id = NEW.org_id AND grant_id = NEW.grant_id;
    IF balance < 0 THEN
        RAISE EXCEPTION 'credit grant % would have a negative balance (%)', NEW.grant_id, balance
            USING ERRCODE = 'check_violation', CONSTRAINT = 'credit_balance_not_negative';
    END IF;
    RETURN NEW;
END
$$;
