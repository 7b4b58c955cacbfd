-- Plan lifecycle: a price plan version is deleted only while it is a DRAFT
-- (`billrun plan discard`). A finalized version (ACTIVE or ARCHIVED) is what invoices
-- were computed from and what accounts are attached to: whatever code runs against
-- the database, it is never deleted. Archiving is how a plan is retired.
--
-- The one exception is deleting a whole organisation's data (the demo replaces its
-- previous organisation): a transaction that sets `billrun.purge_organisation` to an
-- organisation's id (SET LOCAL / set_config(.., true)) may delete that
-- organisation's versions, and no other's.
CREATE FUNCTION price_plan_versions_never_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'DRAFT'
        AND current_setting('billrun.purge_organisation', true) IS DISTINCT FROM OLD.org_id THEN
        RAISE EXCEPTION 'price plan % version % is %: a finalized plan version is never deleted (archive it instead)',
            OLD.plan_id, OLD.version, OLD.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'price_plan_versions_never_deleted';
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER price_plan_versions_never_deleted
    BEFORE DELETE ON price_plan_versions
    FOR EACH ROW EXECUTE FUNCTION price_plan_versions_never_deleted();
