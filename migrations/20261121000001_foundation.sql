-- billrun foundation: diagnostics of the job system.
--
-- A probe is the smallest job with an effect: operators enqueue one to check that
-- workers run, and the test suite uses it to prove the queue's guarantees
-- (an effect happens once however often a job is retried or re-run).

CREATE TABLE probe_results (
    key          TEXT        NOT NULL,
    as_of        TIMESTAMPTZ NOT NULL,
    job_id       TEXT        NOT NULL,
    completed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (key, as_of)
);

-- Every time a probe starts executing (not transactional with its effect), so
-- that tests can see a job that was interrupted and executed again.
CREATE TABLE probe_executions (
    id         BIGSERIAL   PRIMARY KEY,
    key        TEXT        NOT NULL,
    job_id     TEXT        NOT NULL,
    attempt    INTEGER     NOT NULL,
    worker     TEXT        NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX probe_executions_key ON probe_executions (key);
