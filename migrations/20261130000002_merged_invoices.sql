-- One invoice per account and boundary date: when an account's plan changes at a
-- cycle boundary (a plan migration, a detach and attach), the old plan's closing
-- draft and the new plan's opening draft are finalized as one invoice, the first
-- carrying the lines of both; the other becomes MERGED (Togai's status for the
-- originals of a consolidated invoice), has no number, and points to it.
ALTER TABLE invoices DROP CONSTRAINT invoices_status_check;
ALTER TABLE invoices ADD CONSTRAINT invoices_status_check
    CHECK (status IN ('DRAFT', 'DUE', 'PAID', 'VOID', 'MERGED'));
ALTER TABLE invoices ADD COLUMN merged_into TEXT NULL;
ALTER TABLE invoices ADD CONSTRAINT invoices_merged_into_fk
    FOREIGN KEY (org_id, merged_into) REFERENCES invoices (org_id, id);
ALTER TABLE invoices ADD CONSTRAINT invoices_merged_iff_merged_into
    CHECK ((status = 'MERGED') = (merged_into IS NOT NULL));
ALTER TABLE invoices DROP CONSTRAINT invoices_number_iff_finalized;
-- Drafts and merged drafts have no number; everything finalized has one, with its dates.
ALTER TABLE invoices ADD CONSTRAINT invoices_number_iff_finalized CHECK (
    (status IN ('DRAFT', 'MERGED')) = (number IS NULL)
    AND (status IN ('DRAFT', 'MERGED') OR (invoice_date IS NOT NULL AND due_date IS NOT NULL))
);
