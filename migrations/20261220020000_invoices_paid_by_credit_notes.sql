-- A DUE invoice whose balance due credit notes took to 0 is PAID (README "Credit
-- notes"), settled by the notes rather than by a payment: no `invoice-paid` job runs
-- for it (nothing was paid, so the PREPAID credits and entitlements it sold are not
-- granted). This records which PAID invoices were settled so.
ALTER TABLE invoices ADD COLUMN paid_by_credit_notes BOOLEAN NOT NULL DEFAULT false;
