"""Plan migrations, Togai's jobs and bill runs through the official client (see
common.py for how this script is run).

The Rust test has set up organisation acme with plans `growth` and `scale` (both
monthly on the 1st, ACTIVE version 1) and accounts m1, m2 (on growth) and b1 (on
growth, no usage) from the first day of the current month (UTC), and runs a worker:
this script creates, confirms and rejects migrations, runs a bill run, and polls
until the worker has run the jobs.
"""

import time

from togai_client import (
    CreatePricePlanMigrationRequest,
    InvoicesApi,
    JobsApi,
    PricePlanV2Api,
)

from common import check, client, refused

api = client()
jobs = JobsApi(api)
plans = PricePlanV2Api(api)
invoices = InvoicesApi(api)


def migration(mode: str) -> None:
    """Creates a migration growth v1 -> scale that waits for confirmation."""
    answer = plans.price_plan_migration_v2(
        CreatePricePlanMigrationRequest(
            source_id="growth",
            source_version=1,
            target_id="scale",
            migration_mode=mode,
            retain_start_offsets=False,
            require_confirmation=True,
        )
    )
    check(answer is not None and answer.success, f"migration created: {answer!r}")


def waiting_ids() -> list:
    page = jobs.get_jobs(page_size=50)
    return [j.id for j in page.data
            if j.type == "PRICE_PLAN" and j.status == "WAITING_FOR_CONFIRMATION"]


def until(job_id: str, status: str):
    """Polls the job until it has `status` (at most 60 s); the job."""
    deadline = time.time() + 60
    while True:
        job = jobs.get_job_status(job_id)
        if job.status == status:
            return job
        check(time.time() < deadline, f"job {job_id} never {status}: {job!r}")
        time.sleep(0.3)


# A migration awaiting confirmation is a job WAITING_FOR_CONFIRMATION.
migration("NEXT_CYCLE")
ids = waiting_ids()
check(len(ids) == 1, f"one job waits: {ids}")
job_id = ids[0]
job = jobs.get_job_status(job_id)
check(job.type == "PRICE_PLAN" and job.total_job_entries == 0, f"waiting job: {job!r}")
check(job.metadata["sourceId"] == "growth" and job.metadata["targetId"] == "scale",
      f"metadata: {job!r}")

# Confirmed, the worker runs it: both accounts of growth move.
confirmed = jobs.confirm_job(job_id)
check(confirmed.status in ("PENDING", "IN_PROGRESS", "COMPLETED"), f"confirmed: {confirmed!r}")
done = until(job_id, "COMPLETED")
check((done.total_job_entries, done.completed_job_entries, done.failed_job_entries,
       done.pending_job_entries) == (3, 3, 0, 0), f"done: {done!r}")
check(done.settled_at is not None, f"settled: {done!r}")
entries = jobs.get_job_entries(job_id)
check([e.entity_id for e in entries.data] == ["b1", "m1", "m2"], f"entries: {entries!r}")
check(all(e.status == "COMPLETED" and e.job_id == job_id for e in entries.data),
      f"entries: {entries!r}")
refused(409, jobs.confirm_job, job_id)
refused(404, jobs.get_job_status, "no-such-job")
refused(404, jobs.get_job_entries, "no-such-job")

# A second one, rejected: CANCELLED, nothing runs.
migration("IMMEDIATE")
ids = waiting_ids()
check(len(ids) == 1 and ids[0] != job_id, f"the second waits: {ids}")
rejected = jobs.reject_job(ids[0])
check(rejected.status == "CANCELLED" and rejected.total_job_entries == 0, f"rejected: {rejected!r}")
refused(409, jobs.reject_job, ids[0])

# A bill run: a BILL_RUN job, run by the worker; b1's opening invoice is the month's
# platform fee in advance, 99.00 (the minimum commitment is trued up at the cycle's end).
answer = invoices.create_invoice_bill_run()
check(answer is not None and answer.success, f"bill run: {answer!r}")
runs = [j for j in jobs.get_jobs(page_size=50).data if j.type == "BILL_RUN"]
check(len(runs) == 1, f"one bill run: {runs!r}")
run = until(runs[0].id, "COMPLETED")
check(run.failed_job_entries == 0 and run.total_job_entries >= 2, f"bill run done: {run!r}")
refused(409, jobs.confirm_job, run.id)
listed = invoices.list_invoices(owner_id="b1")
check(len(listed.data) == 1, f"b1's invoices: {listed!r}")
check(listed.data[0].total_amount == 99 and listed.data[0].status == "DUE",
      f"b1's invoice: {listed.data[0]!r}")
print("jobs: ok")
