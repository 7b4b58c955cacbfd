-- Re-issuing a voided invoice's cycle (`billrun invoice reissue`, README "Invoices").
--
-- reissue_of: the VOID invoice this one re-issues (at most one reissue per invoice);
-- reissue_no: 0 for an invoice written by the bill run, n for the n-th reissue of its
-- cycle. The one-per-cycle constraint now counts reissues apart, so a voided invoice
-- never blocks its reissue, and a bill run (always reissue_no 0) still never writes a
-- second invoice for a cycle; at most one invoice per account, association and
-- boundary is live (not VOID), whatever writes it.
--
-- (Version: 2026-11-30 + "03" for engineer c + a serial; see 20261130030001.)

ALTER TABLE invoices
    ADD COLUMN reissue_of TEXT NULL,
    ADD COLUMN reissue_no INTEGER NOT NULL DEFAULT 0;
ALTER TABLE invoices
    ADD CONSTRAINT invoices_reissue_of_fk FOREIGN KEY (org_id, reissue_of) REFERENCES invoices (org_id, id),
    ADD CONSTRAINT invoices_reissued_once UNIQUE (org_id, reissue_of),
    ADD CONSTRAINT invoices_reissue_check CHECK ((reissue_of IS NULL) = (reissue_no = 0) AND reissue_no >= 0);

ALTER TABLE invoices DROP CONSTRAINT invoices_one_per_account_cycle;
ALTER TABLE invoices
    ADD CONSTRAINT invoices_one_per_account_cycle UNIQUE (org_id, account_id, association_from, boundary, reissue_no);
CREATE UNIQUE INDEX invoices_one_live_per_account_cycle
    ON invoices (org_id, account_id, association_from, boundary) WHERE status <> 'VOID';
