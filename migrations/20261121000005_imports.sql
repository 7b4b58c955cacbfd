-- billrun imports: CSV files of accounts, usage events and license updates, stored
-- in the database so that any worker on any machine can run the `csv-import` job.
--
-- An import is its file (in chunks of `chunk_size` bytes), its column mapping, its
-- progress and its bad rows. Progress is a checkpoint: the byte offset and line of
-- the first row not yet loaded, written in the same transaction as each batch of
-- rows, so a crashed import resumes exactly where its last committed batch ended.

CREATE TABLE imports (
    id            TEXT        NOT NULL,
    org_id        TEXT        NOT NULL,
    -- accounts | usage | licenses
    kind          TEXT        NOT NULL,
    file_name     TEXT        NOT NULL,
    file_bytes    BIGINT      NOT NULL,
    chunk_size    INTEGER     NOT NULL,
    -- Their column name -> ours ("-" ignores the column), as given with --map.
    mapping       JSONB       NOT NULL DEFAULT '{}',
    status        TEXT        NOT NULL DEFAULT 'PENDING',
    job_id        TEXT        NULL,
    -- Checkpoint: the first byte and line of the rows not yet loaded (0 = start).
    next_offset   BIGINT      NOT NULL DEFAULT 0,
    next_line     BIGINT      NOT NULL DEFAULT 1,
    rows_read     BIGINT      NOT NULL DEFAULT 0,
    rows_imported BIGINT      NOT NULL DEFAULT 0,
    rows_skipped  BIGINT      NOT NULL DEFAULT 0,
    rows_failed   BIGINT      NOT NULL DEFAULT 0,
    batches       BIGINT      NOT NULL DEFAULT 0,
    -- Usage events dated in a cycle whose invoice was already finalized: kept and
    -- flagged late (`billrun usage late`), never changing that invoice.
    events_late   BIGINT      NOT NULL DEFAULT 0,
    -- Why the import as a whole failed (a bad header found by the job, ...).
    error         TEXT        NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at    TIMESTAMPTZ NULL,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at   TIMESTAMPTZ NULL,
    CONSTRAINT imports_pkey PRIMARY KEY (id),
    CONSTRAINT imports_org_fk FOREIGN KEY (org_id) REFERENCES organisations (id),
    CONSTRAINT imports_kind_check CHECK (kind IN ('accounts', 'usage', 'licenses')),
    CONSTRAINT imports_status_check CHECK (status IN ('PENDING', 'RUNNING', 'DONE', 'FAILED')),
    CONSTRAINT imports_chunk_size_check CHECK (chunk_size > 0)
);
CREATE INDEX imports_by_org ON imports (org_id, created_at);

-- The file's bytes: chunk `seq` holds bytes [seq * chunk_size, (seq + 1) * chunk_size).
-- Fixed-size chunks let the job start reading at any offset with one lookup.
CREATE TABLE import_file_chunks (
    import_id TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    bytes     BYTEA   NOT NULL,
    CONSTRAINT import_file_chunks_pkey PRIMARY KEY (import_id, seq),
    CONSTRAINT import_file_chunks_import_fk FOREIGN KEY (import_id) REFERENCES imports (id) ON DELETE CASCADE
);

-- Bad rows, each with the row as CSV (its fields re-quoted, bytes as in the file)
-- so that `billrun imports errors` can hand them back ready to fix and re-import.
CREATE TABLE import_errors (
    import_id   TEXT   NOT NULL,
    line        BIGINT NOT NULL,
    column_name TEXT   NULL,
    reason      TEXT   NOT NULL,
    record      BYTEA  NOT NULL,
    CONSTRAINT import_errors_pkey PRIMARY KEY (import_id, line),
    CONSTRAINT import_errors_import_fk FOREIGN KEY (import_id) REFERENCES imports (id) ON DELETE CASCADE
);

-- Keys seen by an import whose target table cannot tell "imported by this file"
-- from "already there" (accounts are upserted): a key twice in one file is a bad row.
CREATE TABLE import_keys (
    import_id TEXT   NOT NULL,
    key       TEXT   NOT NULL,
    line      BIGINT NOT NULL,
    CONSTRAINT import_keys_pkey PRIMARY KEY (import_id, key),
    CONSTRAINT import_keys_import_fk FOREIGN KEY (import_id) REFERENCES imports (id) ON DELETE CASCADE
);
