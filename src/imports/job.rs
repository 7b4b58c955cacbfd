//! The `csv-import` job: streams a stored file, validates its rows, and loads the
//! good ones in batches, each batch with its checkpoint in one transaction.
//!
//! A batch's transaction holds the batch's rows (COPY into a staging table, then a
//! set-based merge), its bad rows, and the import's new checkpoint and counters.
//! A crash loses at most the batch in flight, and the restarted job starts again at
//! the last checkpoint: the end state is that of an uninterrupted import. The merges
//! themselves are idempotent (event ids, idempotency keys, account upserts), so a
//! second import of the same file changes nothing.

use std::collections::{HashMap, VecDeque};

use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};

use super::columns::{locate_header, Header, ImportKind, Mapping};
use super::merge::{self, Loader, Parsed};
use super::rows::{self, Row, RowContext, RowError};
use super::split::{Record, Splitter};
use super::store::{self, ImportView};
use super::ImportError;
use crate::queue::{JobContext, JobError};
use crate::store::status::ImportStatus;

/// Payload of `csv-import`: `{"importId": ...}` (`import_id`, as older jobs have
/// it, accepted too).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CsvImportArgs {
    /// The import (`billrun import` prints it).
    #[serde(alias = "import_id")]
    pub import_id: String,
}

/// Rows per batch (one transaction, one checkpoint).
pub fn batch_rows(kind: ImportKind) -> usize {
    match kind {
        // Accounts touch five tables and run several checks per batch.
        ImportKind::Accounts => 1_000,
        ImportKind::Usage | ImportKind::Licenses => 10_000,
    }
}

/// The job's handler.
pub async fn run(ctx: &JobContext, args: CsvImportArgs) -> Result<Value, JobError> {
    match import(&ctx.pool, &args.import_id).await {
        Ok(view) => Ok(json!({
            "import": view.id,
            "status": view.status,
            "rowsRead": view.rows_read,
            "rowsImported": view.rows_imported,
            "rowsSkipped": view.rows_skipped,
            "rowsFailed": view.rows_failed,
        })),
        Err(ImportError::Superseded) => Ok(json!({
            "import": args.import_id,
            "note": "another run of this import moved past this one's batch; it carries on",
        })),
        Err(e @ (ImportError::Invalid(_) | ImportError::NotFound(_) | ImportError::Refused(_))) => {
            fail(&ctx.pool, &args.import_id, &e.to_string()).await?;
            Err(JobError::Fatal(e.into()))
        }
        Err(e) => Err(JobError::Retryable(e.into())),
    }
}

async fn fail(pool: &PgPool, id: &str, why: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE imports SET status = 'FAILED', error = $2, finished_at = now(), updated_at = now()
         WHERE id = $1 AND status <> 'DONE'",
    )
    .bind(id)
    .bind(why)
    .execute(pool)
    .await
    .map(drop)
}

#[derive(sqlx::FromRow)]
struct ImportRow {
    org_id: String,
    kind: String,
    mapping: Value,
    status: ImportStatus,
    next_offset: i64,
    next_line: i64,
    chunk_size: i32,
    file_bytes: i64,
}

/// Where the job is in the file.
struct Cursor {
    offset: u64,
    line: u64,
}

/// Runs (or resumes) an import to its end. Public for tests and the benchmark,
/// which call it without the queue.
pub async fn import(pool: &PgPool, id: &str) -> Result<ImportView, ImportError> {
    let row: Option<ImportRow> = sqlx::query_as(
        "SELECT org_id, kind, mapping, status, next_offset, next_line, chunk_size, file_bytes
         FROM imports WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let row = row.ok_or_else(|| ImportError::NotFound(format!("import {id:?} does not exist")))?;
    if matches!(row.status, ImportStatus::Done | ImportStatus::Failed) {
        return Ok(store::get(pool, id).await?.expect("the import exists"));
    }
    let kind = ImportKind::parse(&row.kind).map_err(ImportError::Invalid)?;
    let mapping = Mapping(
        serde_json::from_value(row.mapping)
            .map_err(|e| ImportError::Invalid(format!("stored mapping: {e}")))?,
    );
    let started_at: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "UPDATE imports SET status = 'RUNNING', started_at = coalesce(started_at, now()),
             updated_at = now() WHERE id = $1 RETURNING started_at",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;

    let chunk_size = row.chunk_size as u64;
    let file_bytes = row.file_bytes as u64;
    let mut reader = pool.acquire().await?;
    let head = store::chunk(&mut reader, id, 0).await?.unwrap_or_default();
    let at = locate_header(kind, &mapping, &head, file_bytes <= chunk_size)
        .map_err(ImportError::Invalid)?;
    drop(head);
    let mut cursor = if row.next_offset == 0 {
        Cursor {
            offset: at.rows_offset,
            line: at.rows_line,
        }
    } else {
        Cursor {
            offset: row.next_offset as u64,
            line: row.next_line as u64,
        }
    };

    let org = crate::store::OrgId::from(row.org_id.as_str());
    let cx = RowContext {
        schemas: crate::catalog::meters::schemas(pool, &org)
            .await
            .map_err(|e| match e {
                crate::catalog::CatalogError::Database(e) => ImportError::Database(e),
                other => ImportError::Invalid(other.to_string()),
            })?
            .into_iter()
            .map(|s| (s.name.clone(), s))
            .collect(),
        currencies: sqlx::query_scalar::<_, Vec<String>>(
            "SELECT enabled_currencies FROM organisations WHERE id = $1",
        )
        .bind(&row.org_id)
        .fetch_one(pool)
        .await?,
    };
    let mut work = pool.acquire().await?;
    merge::create_staging(&mut work).await?;
    let mut loader = Loader::new(kind, row.org_id.clone(), id.to_string(), started_at);

    let mut splitter = Splitter::new(cursor.offset, cursor.line);
    let mut seq = (cursor.offset / chunk_size) as i32;
    let mut skip = (cursor.offset % chunk_size) as usize;
    let mut eof = cursor.offset >= file_bytes;
    let mut pending: VecDeque<Record> = VecDeque::new();
    let mut out = Vec::new();
    let size = batch_rows(kind);
    loop {
        // Read slices until a batch is ready: one chunk in memory at a time.
        while pending.len() < size && !eof {
            let bytes = store::chunk(&mut reader, id, seq).await?;
            seq += 1;
            let last = match &bytes {
                None => true,
                Some(_) => seq as u64 * chunk_size >= file_bytes,
            };
            let bytes = bytes.unwrap_or_default();
            splitter.push(bytes.get(skip..).unwrap_or_default(), last, &mut out);
            skip = 0;
            eof = last;
            pending.extend(out.drain(..));
        }
        if pending.is_empty() {
            break;
        }
        let n = size.min(pending.len());
        let batch: Vec<Record> = pending.drain(..n).collect();
        load_batch(&mut work, &at.header, &cx, &mut loader, &batch, &cursor).await?;
        let last = batch.last().expect("a batch is never empty");
        cursor = Cursor {
            offset: last.end,
            line: last.next_line,
        };
    }
    sqlx::query(
        "UPDATE imports SET status = 'DONE', finished_at = now(), updated_at = now(), error = NULL
         WHERE id = $1",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(store::get(pool, id).await?.expect("the import exists"))
}

/// A bad row: its line, why, and its fields.
struct Bad<'a> {
    line: u64,
    error: RowError,
    record: &'a Record,
}

/// The row as one CSV line (no line ending), for the errors file.
fn record_csv(rec: &Record) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_byte_record(&rec.fields);
    let mut bytes = w.into_inner().unwrap_or_default();
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    bytes
}

/// Validates and loads one batch, with its checkpoint, in one transaction.
async fn load_batch(
    work: &mut PgConnection,
    header: &Header,
    cx: &RowContext,
    loader: &mut Loader,
    batch: &[Record],
    from: &Cursor,
) -> Result<(), ImportError> {
    let mut bad: Vec<Bad> = Vec::new();
    let mut good: Vec<Parsed> = Vec::with_capacity(batch.len());
    // A key twice in one batch is caught here; across batches, by the merge.
    let mut seen: HashMap<String, u64> = HashMap::with_capacity(batch.len());
    for rec in batch {
        match rows::parse(header, rec, cx) {
            Ok(row) => {
                let (col, key) = match &row {
                    Row::Usage(u) => ("event_id", u.event_id.clone()),
                    Row::License(l) => ("idempotency_key", l.idempotency_key.clone()),
                    Row::Account(a) => ("account_id", a.account_id.clone()),
                };
                if let Some(first) = seen.get(&key) {
                    bad.push(Bad {
                        line: rec.line,
                        error: RowError::at(
                            col,
                            format!("duplicate {key:?}: line {first} of this file has it already"),
                        ),
                        record: rec,
                    });
                    continue;
                }
                seen.insert(key, rec.line);
                good.push(Parsed {
                    line: rec.line,
                    row,
                });
            }
            Err(error) => bad.push(Bad {
                line: rec.line,
                error,
                record: rec,
            }),
        }
    }
    let by_line: HashMap<u64, &Record> = batch.iter().map(|r| (r.line, r)).collect();

    let mut tx = sqlx::Connection::begin(&mut *work).await?;
    // The checkpoint row is locked for the batch: two runs of one import (a worker
    // presumed dead that was not) cannot both load it.
    let at: i64 = sqlx::query_scalar("SELECT next_offset FROM imports WHERE id = $1 FOR UPDATE")
        .bind(&loader.import_id)
        .fetch_one(&mut *tx)
        .await?;
    if at != 0 && at as u64 != from.offset {
        return Err(ImportError::Superseded);
    }
    let outcome = loader.load(&mut tx, good).await?;
    for (line, error) in outcome.errors {
        let record = by_line[&line];
        bad.push(Bad {
            line,
            error,
            record,
        });
    }
    let lines: Vec<i64> = bad.iter().map(|b| b.line as i64).collect();
    let columns: Vec<Option<String>> = bad.iter().map(|b| b.error.column.clone()).collect();
    let reasons: Vec<String> = bad.iter().map(|b| b.error.reason.clone()).collect();
    let records: Vec<Vec<u8>> = bad.iter().map(|b| record_csv(b.record)).collect();
    if !bad.is_empty() {
        sqlx::query(
            "INSERT INTO import_errors (import_id, line, column_name, reason, record)
             SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::bytea[])
             ON CONFLICT DO NOTHING",
        )
        .bind(&loader.import_id)
        .bind(&lines)
        .bind(&columns)
        .bind(&reasons)
        .bind(&records)
        .execute(&mut *tx)
        .await?;
    }
    let last = batch.last().expect("a batch is never empty");
    sqlx::query(
        "UPDATE imports SET next_offset = $2, next_line = $3, rows_read = rows_read + $4,
             rows_imported = rows_imported + $5, rows_skipped = rows_skipped + $6,
             rows_failed = rows_failed + $7, events_late = events_late + $8,
             batches = batches + 1, updated_at = now()
         WHERE id = $1",
    )
    .bind(&loader.import_id)
    .bind(last.end as i64)
    .bind(last.next_line as i64)
    .bind(batch.len() as i64)
    .bind(outcome.imported as i64)
    .bind(outcome.skipped as i64)
    .bind(bad.len() as i64)
    .bind(outcome.late as i64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
